"""The evaluation loop of one setting: load, plan, answer, score, record; its timing, memory, roofline, scale-out, resume and interrupts."""
