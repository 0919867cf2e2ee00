// A Node script with dependencies from package.json, pinned by package-lock.json.
//   prisn run examples/node-app
const isNumber = require('is-number');
const leftPad = require('left-pad');

for (const value of ['42', 'forty-two']) {
  console.log(`${leftPad(value, 10)} is a number: ${isNumber(value)}`);
}
