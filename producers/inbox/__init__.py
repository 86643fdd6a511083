"""The review inbox: a web page where reviewers see pending approvals and decide them.

reviewers.py (accounts, argon2 hashes), sessions.py and login_limit.py (who is signed in,
CSRF tokens, failed-login throttling), feed.py (what is pending and what was decided, kept
current from Kafka and Restate), follower.py (the thread that reads Kafka into the feed),
app.py (the Starlette routes), serve.py (hypercorn).
"""
