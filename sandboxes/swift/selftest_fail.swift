/// 
func f(s: String) -> String {
    return String(s.reversed())
}

assert(f(s: "abc") == "abc")
