"""The production configuration on one machine: nginx in front of several Rasa instances, action servers and backend
replicas, sharing PostgreSQL (cases, conversations) and Redis (locks, WeChat state). ``make run-prod`` starts it;
the fault tests (tests/deploy) and ``make bench`` (the load figures) use it too."""
