def f(s)
  s.reverse
end
require 'test/unit'
class TestHumanEval < Test::Unit::TestCase
  def test_f
    candidate = method(:f)
    assert_equal("cba", candidate.call("abc"))
  end
end
