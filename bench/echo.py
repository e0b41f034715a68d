"""The baseline for RPC benchmarks: a nameko service that answers with its arguments and does nothing else."""
from nameko.rpc import rpc


class Echo:
    name = "bench_echo"

    @rpc
    def echo(self, **kwargs):
        return kwargs

    @rpc
    def reply(self, size: int):
        """A reply of ``size`` characters: the RPC floor under a query that answers as much."""
        return "x" * size

    @rpc
    def ping(self):  # the benchmark waits for this before it starts
        return True
