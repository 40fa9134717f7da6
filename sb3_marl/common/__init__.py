"""sb3_marl.common"""
