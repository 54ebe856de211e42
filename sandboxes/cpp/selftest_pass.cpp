#include<assert.h>
#include<bits/stdc++.h>
std::string f(std::string s) { std::reverse(s.begin(), s.end()); return s; }
int main() { assert(f("abc") == "cba"); }
