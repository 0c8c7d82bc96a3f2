"""Renders the compat table of docs/compat.md from two COMPAT_REPORT files.

    COMPAT_REPORT=/tmp/n.tsv bash compat/run.sh
    COMPAT_REPORT=/tmp/r.tsv COMPAT_TARGET=notary-server bash compat/run.sh
    python3 compat/report.py /tmp/n.tsv /tmp/r.tsv > table.md

Steps are matched by flow and description; temporary paths, the port and the random parts of
repository names are replaced so that the table is stable from run to run.
"""
import re
import sys

FLOW_TITLES = {
    "notary": "notary CLI: one repository end to end",
    "delegations": "notary CLI: delegations",
    "docker": "Docker CLI 28: content trust",
    "daemon": "Docker CLI 28 with a daemon: push, pull, run and build with content trust",
    "sign": "notarium sign and revoke: signing without a daemon (skopeo-pushed images)",
    "serve": "notarium serve with a generated CA",
    "auth": "token authentication (notarium as its own token service)",
    "replicas": "two notarium replicas on one PostgreSQL",
    "import": "moving over from notary-server (notarium import)",
    "mirror": "leaving a hosted notary (notarium mirror)",
    "verify": "notarium verify on repositories the real clients made",
    "admission": "the Kubernetes admission webhook (kubectl-built objects)",
    "image": "the Dockerfile, built from Debian-made bases and run",
}


def load(path):
    rows, target = [], None
    tmp = url = None
    # A flow's other servers (`report_url` in lib/common.sh): URL pattern and name.
    named = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if parts[0] == "#":
                target, tmp, url = parts[1], parts[2], parts[3]
                continue
            if parts[0] == "#url":
                named.append((re.compile(re.escape(parts[2]) + r"(?!\d)"), parts[1]))
                continue
            flow, kind, result, want, desc, cmd = parts
            for pattern, name in named:
                cmd = pattern.sub(lambda _: name, cmd)
            for old, new in ((url, "$URL"), (tmp + "/", ""), (tmp, ".")):
                if old:
                    cmd = cmd.replace(old, new)
                    desc = desc.replace(old, new)
            cmd = re.sub(r"notary -s \$URL --tlscacert ca\.crt", "notary", cmd)
            cmd = re.sub(r"\S*/python3(\.\d+)?(?=\s)", "python3", cmd)
            cmd = re.sub(r"\S*/(compat/lib/)", r"\1", cmd)
            # The binary by name, wherever it was built.
            cmd = re.sub(r"\S*/notarium(?=\s|$)", "notarium", cmd)
            # race.py TIMEOUT PROMPT VAR ANSWER CLIENT -- RACER: show the two commands only.
            cmd = re.sub(r"python3 compat/lib/race\.py \d+ .*?_PASSPHRASE compat \w+ pass ",
                         "race.py: ", cmd)
            cmd = re.sub(r"bash -c .*raise_threshold \(\).*", "raise_threshold (resign.py + upload)", cmd)
            cmd = re.sub(r"\b(app|delegations|docker|never-published|generated|import-a|import-b|"
                         r"replicas-basic|replicas-shared|auth|auth-docker|mtls|verify|verify-notary|verify-served|sign|sign-token|image|"
                         r"mirror-a|mirror-b|mirror-tampered|mirror-docker|mirror-auth)-\d+", r"\1-N", cmd)
            cmd = re.sub(r"\bnotarium_(replicas|import_server|import_signer)_[0-9_]+", r"notarium_\1_N", cmd)
            desc = re.sub(r"\bnotarium_(replicas|import_server|import_signer)_[0-9_]+", r"notarium_\1_N", desc)
            cmd = re.sub(r"https://127\.0\.0\.1:\d+", "$URL", cmd)
            # the daemon flow's registry, and its daemon's directory
            cmd = re.sub(r"\b127\.0\.0\.1:\d+(?=/compat/)", "$REGISTRY", cmd)
            cmd = re.sub(r"/tmp/cdd\.\w+", "/tmp/cdd.XXXXXX", cmd)
            cmd = re.sub(r"/etc/docker/certs\.d/127\.0\.0\.1:\d+", "/etc/docker/certs.d/$REGISTRY", cmd)
            cmd = re.sub(r"/tmp/cim\.\w+", "/tmp/cim.XXXXXX", cmd)
            cmd = re.sub(r"\b[0-9a-f]{64}\b", "<id>", cmd)
            rows.append((flow, kind, result, want, desc, cmd))
    # A description can repeat within a flow ("the reader sees it"): key by occurrence.
    count, keyed = {}, []
    for r in rows:
        n = count[(r[0], r[4])] = count.get((r[0], r[4]), 0) + 1
        keyed.append(r + (n,))
    return target, keyed


def cell(text):
    return text.replace("|", "\\|")


def main():
    ours_name, ours = load(sys.argv[1])
    ref_name, ref = load(sys.argv[2])
    ref_result = {(r[0], r[4], r[6]): r[2] for r in ref}
    seen = set()
    flows = []
    for r in ours + ref:
        if r[0] not in flows:
            flows.append(r[0])
    for flow in flows:
        print(f"\n### {FLOW_TITLES.get(flow, flow)}\n")
        print(f"| # | Flow step (the expected result) | Client command | {ours_name} | {ref_name} |")
        print("|---|---|---|---|---|")
        n = 0
        ours_keys = {(r[0], r[4], r[6]) for r in ours}
        for r in [x for x in ours if x[0] == flow] + [x for x in ref if x[0] == flow and (x[0], x[4], x[6]) not in ours_keys]:
            key = (r[0], r[4], r[6])
            if key in seen:
                continue
            seen.add(key)
            n += 1
            mine = r[2] if key in ours_keys else "—"
            theirs = ref_result.get(key, "—")
            what = r[4] + (" (exits non-zero)" if r[3] == "fail" else "")
            cmd = f"`{cell(r[5])}`" if r[1] == "step" else f"check: `{cell(r[5])}`"
            print(f"| {n} | {cell(what)} | {cmd} | {mine} | {theirs} |")


main()
