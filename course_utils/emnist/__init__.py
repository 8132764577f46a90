"""The data files behind `course_utils.data` (plumbing that learners do not call):
sqlite (reading and writing TFF's EMNIST SQLite file), download (fetching full EMNIST
as TFF's loader does), sample_writers (the bundled real writers, packed)."""
