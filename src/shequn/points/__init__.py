"""Points (积分): the ledger of lots that expire, sign-in, earning rules, quizzes, leaderboards
and the choice of KOCs."""
