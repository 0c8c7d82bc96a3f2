"""Re-sign a notary role file after editing it, the way an administrator with the role's key
could do by hand: stdlib only, signing through the openssl CLI.

    resign.py IN.json OUT.json KEYFILE PASSPHRASE KEYID PYEXPR

IN.json is the current role file, KEYFILE the client's encrypted private key (as the notary
CLI stores it, `role:` header included), KEYID its key ID. PYEXPR is evaluated with `s` bound
to the `signed` object and may change it in place (e.g. "s['delegations']['roles'][0].update(
threshold=2)"). The version goes up by one and the one signature is replaced.
"""
import base64, json, os, subprocess, sys, tempfile

src, dst, keyfile, passphrase, keyid, expr = sys.argv[1:7]
with open(src, encoding="utf-8") as f:
    doc = json.load(f)
signed = doc["signed"]
exec(expr, {"s": signed})
signed["version"] += 1
canonical = json.dumps(signed, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

with tempfile.TemporaryDirectory() as tmp:
    # openssl does not read PEM headers such as `role: targets`.
    with open(keyfile, encoding="ascii") as f:
        pem = [l for l in f if not (":" in l and not l.startswith("-----"))]
    with open(os.path.join(tmp, "enc.pem"), "w", encoding="ascii") as f:
        f.writelines(l for l in pem if l.strip())
    subprocess.run(["openssl", "pkcs8", "-in", os.path.join(tmp, "enc.pem"), "-passin",
                    "pass:" + passphrase, "-out", os.path.join(tmp, "key.pem")], check=True,
                   capture_output=True)
    with open(os.path.join(tmp, "msg"), "wb") as f:
        f.write(canonical)
    der = subprocess.run(["openssl", "dgst", "-sha256", "-sign", os.path.join(tmp, "key.pem"),
                          os.path.join(tmp, "msg")], check=True, capture_output=True).stdout

# DER ECDSA-Sig-Value (SEQUENCE of two INTEGERs) -> raw r||s, 32 bytes each (P-256).
def read_int(buf, i):
    assert buf[i] == 0x02
    n = buf[i + 1]
    return int.from_bytes(buf[i + 2:i + 2 + n], "big"), i + 2 + n
assert der[0] == 0x30
start = 2 if der[1] < 0x80 else 3
r, i = read_int(der, start)
s_, _ = read_int(der, i)
raw = r.to_bytes(32, "big") + s_.to_bytes(32, "big")
doc["signatures"] = [{"keyid": keyid, "method": "ecdsa", "sig": base64.b64encode(raw).decode()}]
with open(dst, "w", encoding="utf-8") as f:
    json.dump(doc, f, ensure_ascii=False, separators=(",", ":"))
