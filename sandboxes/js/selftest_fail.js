function f(s){
    return s.split("").reverse().join("");
}
const assert = require('node:assert');


function test() {
  let candidate = f;
  assert.deepEqual(candidate("abc"),"abc");
}

test();
