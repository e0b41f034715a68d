"""``make bench``: figures side by side with a baseline in the same run (these machines are noisy)."""
import subprocess
import sys


def main(argv):
    # Each benchmark in its own interpreter: the RPC one monkey-patches eventlet, the store one must not.
    for module in ("bench.eventstore", "bench.commands"):
        subprocess.run([sys.executable, "-m", module, *argv], check=True)


if __name__ == "__main__":
    main(sys.argv[1:])
