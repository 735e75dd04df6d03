"""Clinical numbers from 2D pose landmarks: joint angles and repetitions, free of Django."""
