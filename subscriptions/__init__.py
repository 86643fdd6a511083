"""The topic-to-handler map (topics.py), topic creation (kafka_topics.py) and sync with Restate's admin API."""
