"""examples.fibo: the n-th Fibonacci number, computed recursively (deliberately CPU-bound)."""

import json
import sys


def fibo(n: int) -> int:
    return n if n < 2 else fibo(n - 1) + fibo(n - 2)


params = json.load(sys.stdin)  # parameters arrive on stdin as JSON (parameter_format: json)
n = params.get("n", 10)
print(json.dumps({"n": n, "result": fibo(n)}))
