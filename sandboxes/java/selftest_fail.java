import java.util.*;

class Problem {
    public static String f(String s) {
        return new StringBuilder(s).reverse().toString();
    }
    public static void main(String[] args) {
    assert(f(("abc")).equals(("abc")));
    }

}
