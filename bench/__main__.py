"""``make bench``: every figure side by side with its baseline, measured in the same run (these machines are
noisy: compare the ratios). ``--quick`` (the default) runs in a few minutes; ``--full`` (``make bench FULL=1``)
runs the large cases (a million events and entries). Results are printed and kept as JSON in bench/results/."""
import argparse
import subprocess
import sys

# Each benchmark in its own interpreter: the RPC ones monkey-patch eventlet, the store ones must not.
QUICK = {
    "bench.eventstore": [],
    "bench.inprocess": [],
    "bench.logtime": [],
    "bench.rebuild": [],
    "bench.propagation": [],
    "bench.follow": [],
    "bench.queries": [],
    "bench.gateway": [],
    "bench.watch": [],
}
FULL = {
    "bench.eventstore": ["--events", "5000", "--scan", "1000000"],
    "bench.inprocess": ["--commands", "20000"],
    "bench.logtime": ["--calls", "2000"],
    "bench.rebuild": ["--sizes", "100000,1000000"],
    "bench.propagation": ["--samples", "200"],
    "bench.follow": ["--samples", "100"],
    "bench.queries": ["--entries", "1000000", "--lookups", "1000"],
    "bench.gateway": [],
    "bench.watch": ["--entries", "20000"],
}


def main(argv):
    parser = argparse.ArgumentParser(prog="bench")
    parser.add_argument("--full", action="store_true", help="the large cases (a million events)")
    parser.add_argument("--quick", action="store_true", help="the default: a few minutes in all")
    parser.add_argument("only", nargs="*", help="run only these (e.g. logtime rebuild)")
    args = parser.parse_args(argv)
    plan = FULL if args.full else QUICK
    failed = []
    for module, module_args in plan.items():
        if args.only and module.split(".", 1)[1] not in args.only:
            continue
        if subprocess.run([sys.executable, "-m", module, *module_args]).returncode != 0:
            failed.append(module)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1:])
