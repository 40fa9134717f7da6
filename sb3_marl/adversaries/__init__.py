"""sb3_marl.adversaries"""
