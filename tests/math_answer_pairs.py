"""Hand-written MATH answer pairs with each scorer's verdict, for tests/test_math_scorers.py.

`gold` is a MATH gold answer (MATH-500's `answer`); `prediction` is the model's answer as an
extraction step hands it over (the content of the last box). math-verify gets the raw response
instead, "The answer is $\\boxed{prediction}$", and the gold with `gold_boxed=True`.

Verdicts were written from reading the official code, then run against it: hendrycks/math
`math_equivalence.is_equiv`, lm-eval 0.4.13 `minerva_math` (default options), openai/prm800k
`grade_answer`, math-verify 0.9 `verify`. Where the run and the first guess differed, the run
won, and the note says why. `lm_eval_hendrycks` is set where lm-eval's copy of `is_equiv`
disagrees with hendrycks' original (see harness/scoring/math_hendrycks.py).
"""

from __future__ import annotations

from typing import NamedTuple


class AnswerPair(NamedTuple):
    gold: str
    prediction: str
    hendrycks: int
    minerva: int
    prm800k: int
    math_verify: int
    note: str = ""
    lm_eval_hendrycks: int | None = None  # lm-eval's copy, where it differs from the original


P = AnswerPair
PAIRS: list[AnswerPair] = [
    # fractions
    P(r"\frac{1}{2}", r"\frac{1}{2}", 1, 1, 1, 1),
    P(r"\frac{1}{2}", r"\dfrac{1}{2}", 1, 1, 1, 1),
    P(r"\frac{1}{2}", r"\tfrac12", 1, 1, 1, 1),
    P(r"\frac{1}{2}", r"1/2", 1, 1, 1, 1),
    P(r"\frac{1}{2}", r"0.5", 1, 1, 1, 1, "hendrycks maps exactly the string 0.5 to \\frac{1}{2}"),
    P(r"\frac{3}{4}", r"0.75", 0, 1, 1, 1, "hendrycks has no numeric equality; 0.5 is its only special case"),
    P(r"\frac{3}{4}", r"\frac{6}{8}", 0, 1, 0, 1, "prm800k: two fractions must match textually"),
    P(r"\frac{1}{2}", r"2/4", 0, 1, 0, 1, "prm800k: unreduced fraction rejected"),
    P(r"-\frac{2}{3}", r"\frac{-2}{3}", 0, 1, 1, 1),
    P(r"-\frac{2}{3}", r"-2/3", 0, 1, 1, 1, "hendrycks rewrites -2/3 as \\frac{-2}{3}, not -\\frac{2}{3}"),
    P(r"\frac{\sqrt{3}}{2}", r"\frac{\sqrt3}{2}", 1, 1, 1, 1),
    P(r"\frac{1}{1000}", r"0.001", 0, 1, 1, 1),
    P(r"\frac{1}{3}", r"0.333", 0, 0, 0, 0),
    P(r"\frac32", r"1\frac{1}{2}", 0, 0, 1, 1,
      "mixed number: prm800k and math-verify read 1+1/2, sympy's parse_latex reads 1*(1/2)"),
    # decimals
    P(r"0.25", r".25", 1, 0, 1, 1, "hendrycks adds the leading 0; sympy's parse_latex rejects .25"),
    P(r"2.5", r"2.50", 0, 1, 1, 1),
    P(r"3", r"3.0", 0, 1, 1, 1, "prm800k turns an integral float into an int first"),
    P(r"7", r"7.", 0, 0, 1, 0, "parse_latex rejects a trailing dot; math-verify keeps '7.' as text"),
    P(r"\$32.50", r"32.5", 0, 1, 1, 1),
    # units and degrees
    P(r"5\text{ cm}", r"5", 1, 1, 1, 1, "MATH marks units with `\\text{ ` (a space)"),
    P(r"5", r"5 \text{cm}", 0, 1, 1, 1, "no space after `\\text{`: hendrycks keeps the unit"),
    P(r"40", r"40 \text{ miles}", 1, 0, 1, 1, "'miles' is not among Minerva's unit words (feet, inches, km are)"),
    P(r"4\pi", r"4\pi \text{ cm}^2", 1, 1, 1, 1),
    P(r"2\pi", r"2\pi cm", 0, 1, 1, 1),
    P(r"90", r"90^\circ", 1, 1, 1, 1),
    P(r"90^{\circ}", r"90", 1, 1, 1, 1),
    P(r"30", r"30 degrees", 0, 1, 1, 1),
    P(r"5\text{ m}\text{ s}", r"5\text{ m}\text{ s}", 1, 1, 1, 1,
      "two unit markers make hendrycks' normaliser raise: it falls back to raw equality"),
    P(r"5\text{ m}\text{ s}", r"5", 0, 1, 0, 1, "prm800k reads '5 m s' as 5*m*s, not a unit"),
    # money and percentages
    P(r"12", r"\$12", 1, 1, 1, 1),
    P(r"\$1.25", r"1.25", 1, 1, 1, 1),
    P(r"10\%", r"10", 1, 0, 1, 0, "Minerva keeps \\%, which parse_latex rejects; math-verify cannot read a boxed \\%"),
    P(r"10", r"10%", 1, 0, 1, 0, "bare %: hendrycks' original removes it, lm-eval's copy does not;"
      " in LaTeX it starts a comment that swallows math-verify's closing brace", lm_eval_hendrycks=0),
    P(r"25\%", r"25%", 1, 0, 1, 0, "", lm_eval_hendrycks=0),
    # intervals
    P(r"(2,5]", r"(2,5]", 1, 1, 1, 1, "minerva: only the string shortcut accepts an interval"),
    P(r"[2,5)", r"(2,5)", 0, 0, 0, 0),
    P(r"(-\infty, 0]", r"(-\infty,0]", 1, 1, 1, 1),
    P(r"(1,2)\cup(3,4)", r"(1,2) \cup (3,4)", 1, 1, 1, 1),
    P(r"[-2,7]", r"x \in [-2,7]", 0, 0, 0, 1),
    # tuples and coordinates
    P(r"\left( 3, \frac{\pi}{2} \right)", r"(3, \frac{\pi}{2})", 1, 0, 1, 1,
      "minerva: \\left( and ( differ as strings and parse_latex rejects tuples"),
    P(r"(1,2)", r"(2,1)", 0, 0, 0, 0),
    P(r"(1,2)", r"1,2", 0, 0, 0, 1),
    P(r"(6,31,-1)", r"(6, 31, -1)", 1, 1, 1, 1),
    P(r"1,-2", r"-2,1", 0, 0, 0, 1, "math-verify compares bare lists as sets"),
    P(r"1,-2", r"1", 0, 1, 0, 0, "minerva: parse_latex stops at the comma and reads the gold as 1 (official quirk)"),
    P(r"3, 5, 7", r"3", 0, 1, 0, 0, "minerva: the gold's first element alone is accepted, as officially"),
    # matrices
    P(r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}", r"\begin{pmatrix}1\\2\end{pmatrix}", 1, 0, 1, 1,
      "Minerva's substitution of `\\ ` (backslash space) eats half of the gold's `\\\\ `"),
    P(r"\begin{pmatrix} -1/3 \\ 2/3 \end{pmatrix}", r"\begin{pmatrix} -\frac{1}{3} \\ \frac{2}{3} \end{pmatrix}",
      0, 0, 1, 1, "pylatexenc writes both matrices as the same text"),
    # words and multiple choice
    P(r"\text{Evelyn}", r"Evelyn", 0, 1, 1, 1),
    P(r"\text{Evelyn}", r"evelyn", 0, 0, 1, 1),
    P(r"\text{(C)}", r"C", 0, 1, 1, 1, "(C) parses as the symbol C; prm800k splits (c) as a 1-tuple"),
    P(r"\text{(B)}", r"(B)", 0, 1, 1, 1),
    P(r"(A)", r"A", 0, 1, 1, 1, "prm800k: (a) is a 1-tuple, so a vs a goes to sympy"),
    P(r"\text{even}", r"\text{odd}", 0, 0, 0, 0),
    P(r"\text{yes}", r"Yes", 0, 0, 1, 1),
    P(r"5", r"five", 0, 0, 0, 0),
    # equations
    P(r"3", r"x=3", 1, 1, 1, 1),
    P(r"x=3", r"3", 1, 1, 1, 1),
    P(r"y = 2x + 3", r"y=2x+3", 1, 1, 1, 1),
    P(r"2x+3", r"3+2x", 0, 1, 1, 1),
    P(r"x^2+7x+10", r"(x+2)(x+5)", 0, 1, 1, 1),
    # roots
    P(r"2\sqrt{2}", r"\sqrt{8}", 0, 1, 1, 1),
    P(r"\frac{\sqrt{2}}{2}", r"\sqrt{2}/2", 0, 1, 1, 1),
    P(r"\frac{\sqrt{2}}{2}", r"\frac{1}{\sqrt{2}}", 0, 1, 1, 1),
    P(r"3\sqrt{13}", r"3 \sqrt{13}", 1, 1, 1, 1),
    P(r"\sqrt[3]{2}", r"2^{1/3}", 0, 1, 0, 1, "prm800k refuses sympy on `^{`"),
    # signs
    P(r"-5", r"- 5", 1, 1, 1, 1),
    P(r"-5", r"5", 0, 0, 0, 0),
    P(r"6 - 5i", r"6-5i", 1, 1, 1, 1),
    # thousands separators and powers
    P(r"10000", r"10,000", 0, 1, 1, 1),
    P(r"1000000", r"1{,}000{,}000", 0, 1, 1, 1),
    P(r"2^{10}", r"1024", 0, 1, 0, 1, "prm800k: an integer gold needs an integer prediction"),
    # pi
    P(r"2\pi", r"2 \pi", 1, 1, 1, 1),
    P(r"2\pi", r"6.28", 0, 0, 0, 0),
    P(r"\frac{\pi}{2}", r"\pi/2", 0, 1, 1, 1),
    # sets
    P(r"\emptyset", r"\varnothing", 0, 0, 1, 0, "pylatexenc writes both as the same symbol; math-verify"
      " reads \\varnothing as a variable"),
    # slashes with letters: where lm-eval's hendrycks copy falls back to raw strings
    P(r"x/y", r"x / y", 1, 1, 1, 1, "lm-eval's copy lets int('x') raise", lm_eval_hendrycks=0),
]
