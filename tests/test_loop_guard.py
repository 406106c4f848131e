"""The loop guard on a local model's stream: it stops a degenerate repetition, not code with a shape."""

from __future__ import annotations

from agentsmith.models.tiers import LoopGuard

# What the 1.5B model wrote for bowling, cut down: two lines over and over, only the number changing.
BOWLING = "class BowlingGame:\n    def roll(self, pins):\n" + "".join(
    f"        if self.current_frame == 10 and self.current_roll == {n}:\n"
    '            raise ValueError("Invalid fill balls")\n'
    for n in range(3, 40)
)

# Tic-tac-toe's winning lines: 8 rows of the same shape is code, not a loop.
WINNING = "WINS = [\n" + "".join(f"    ({a}, {a + 1}, {a + 2}),\n" for a in range(0, 24, 3)) + "]\n"


def feed_in_pieces(text: str, size: int = 7) -> tuple[LoopGuard, int]:
    """Feed as a stream does; return the guard and how many characters it took to say stop."""
    guard = LoopGuard()
    for start in range(0, len(text), size):
        if guard.feed(text[start : start + size]):
            return guard, start + size
    return guard, len(text)


def test_a_repeated_block_is_stopped_early():
    guard, read = feed_in_pieces(BOWLING)
    assert guard.looped and read < len(BOWLING) * 0.5


def test_code_with_repeated_shape_is_not_stopped():
    for text in (WINNING, "x = 1\n" * 9, "def f():\n" + "    pass\n\n" * 4):
        guard, read = feed_in_pieces(text)
        assert not guard.looped and read == len(text), text


def test_the_same_line_sixteen_times_is_a_loop_fifteen_is_not():
    assert not feed_in_pieces("        total += row[0]\n" * 15)[0].looped
    assert feed_in_pieces("        total += row[0]\n" * 16)[0].looped
