function f(s)
    return string.reverse(s)
end
lu = require('luaunit')

function test_humaneval()
local candidate = f
    lu.assertEquals(candidate("abc"), "cba")
end

os.exit(lu.LuaUnit.run())
