import scala.math._
import scala.collection.mutable._
object Problem {
    def f(s : String) : String = {
        s.reverse
    }
    def main(args: Array[String]) = {
    assert(f(("abc")).equals(("abc")));
    }

}
