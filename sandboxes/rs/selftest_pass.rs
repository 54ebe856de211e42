fn f(s: String) -> String {
    s.chars().rev().collect()
}

fn main() {
    let candidate = f;
    assert_eq!(candidate(String::from("abc")), String::from("cba"));
}
