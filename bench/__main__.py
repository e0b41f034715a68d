"""``make bench``: figures side by side with a baseline in the same run (these machines are noisy)."""
import sys

from bench import eventstore


def main(argv):
    eventstore.main(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
