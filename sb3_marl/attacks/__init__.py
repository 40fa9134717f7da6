"""sb3_marl.attacks"""
