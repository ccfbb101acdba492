"""bench.fibo: the n-th Fibonacci number, computed recursively (CPU-bound on purpose)."""

import json
import sys


def fibo(n: int) -> int:
    return n if n < 2 else fibo(n - 1) + fibo(n - 2)


params = json.load(sys.stdin)
n = int(params.get("n", 10))
print(json.dumps({"n": n, "result": fibo(n)}))
