function f(s::String)::String
    return reverse(s)
end
using Test

@testset begin

candidate = f;
	@test(candidate("abc") == "abc")
end
