// examples.node_echo: print the parameters it received (JSON on stdin), as JSON.
let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => { input += chunk; });
process.stdin.on("end", () => {
  const params = input.trim() ? JSON.parse(input) : {};
  process.stdout.write(JSON.stringify(params) + "\n");
});
