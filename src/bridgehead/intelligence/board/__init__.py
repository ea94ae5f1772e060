"""The three-gap board: alignment, effects and knowledge gaps per priority and org unit."""
