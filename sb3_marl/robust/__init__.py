"""sb3_marl.robust"""
