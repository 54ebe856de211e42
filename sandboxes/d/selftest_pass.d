import std.math;
import std.typecons;
import std.algorithm;
import std.array;

string f(string s) 
{
    string reversed;
    foreach_reverse (c; s)
    {
        reversed ~= c;
    }
    return reversed;
}
unittest
{
    alias candidate = f;

    assert(candidate("abc") == "cba");
}
void main(){}
