const fs = require("fs");
const path = require("path");
const params = JSON.parse(fs.readFileSync(0, "utf8"));
if (!params.quick) {
  fs.writeFileSync(path.join(params.dir, "hold_node"), String(process.pid));
  setTimeout(() => {}, 300000);
}
