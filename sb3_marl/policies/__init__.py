"""sb3_marl.policies"""
