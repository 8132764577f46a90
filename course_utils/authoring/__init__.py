"""What builds the course itself, not what learners call: the syllabus (the one table of
lessons), the generated navigation cells and README table, and the learner copies
generated from the solved notebooks."""
