def f(s):
    return s[::-1]

assert f("abc") == "abc"
