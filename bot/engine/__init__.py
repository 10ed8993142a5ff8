"""The job engine: intake, the scheduler, the stages of a job, Intron's budget and poll pacing."""
