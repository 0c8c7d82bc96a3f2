"""Runs a client whose passphrase must be typed (on a pty). When it asks for it (after it has
read the remote state, before it signs and uploads), runs another command to completion, then
types the answer. This is how the suite makes a real client publish from a stale view.

    race.py TIMEOUT PROMPT DROP_VAR ANSWER CLIENT... -- RACER...

PROMPT is matched case-insensitively in the client's output; DROP_VAR is the passphrase
variable removed from the client's environment so that it has to ask. Prints the client's
output with "[racer exit N]" and the racer's output; exits with the client's status.
"""
import os, pty, select, signal, subprocess, sys, time
timeout, prompt, drop, answer = float(sys.argv[1]), sys.argv[2].encode().lower(), sys.argv[3], sys.argv[4].encode()
rest = sys.argv[5:]
sep = rest.index("--")
stale, racer = rest[:sep], rest[sep + 1:]
env = dict(os.environ)
env.pop(drop, None)
pid, fd = pty.fork()
if pid == 0:
    os.execvpe(stale[0], stale, env)
buf, raced, deadline, status = b"", False, time.time() + timeout, None
try:
    while True:
        if time.time() > deadline:
            buf += b"\n[timed out]\n"
            break
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                data = os.read(fd, 4096)
            except OSError:
                data = b""
            if not data:
                break
            buf += data
        if not raced and prompt in buf.lower():
            raced = True
            r = subprocess.run(racer, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=max(1.0, deadline - time.time()))
            buf += b"\n[racer exit %d]\n" % r.returncode + r.stdout
            os.write(fd, answer + b"\n")
    if b"[timed out]" not in buf:
        _, status = os.waitpid(pid, 0)
except Exception as e:
    buf += ("\n[error: %r]\n" % e).encode()
finally:
    if status is None:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
sys.stdout.write(buf.decode("utf-8", "replace"))
if not raced:
    print("[the client never asked for the passphrase]")
    sys.exit(99)
sys.exit(os.waitstatus_to_exitcode(status) if status is not None else 98)
