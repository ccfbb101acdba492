// bench.node_fibo: recursive fibo(n); parameters as JSON on stdin, prints {n, result} as JSON.
const fibo = (n) => (n < 2 ? n : fibo(n - 1) + fibo(n - 2));
let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => { input += chunk; });
process.stdin.on("end", () => {
  const params = input.trim() ? JSON.parse(input) : {};
  const n = Number(params.n ?? 10);
  process.stdout.write(JSON.stringify({ n, result: fibo(n) }) + "\n");
});
