using System;
using System.Numerics;
using System.Diagnostics;
using System.Collections.Generic;
using System.Linq;
using System.Text;
class Problem {
    public static string F(string s) {
        return new string(s.Reverse().ToArray());
    }
    public static void Main(string[] args) {
    Debug.Assert(F(("abc")).Equals(("cba")));
    }

}
