"""tomobench leaderboard."""
