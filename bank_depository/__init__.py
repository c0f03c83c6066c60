"""wanxin-sandbox's bank depository (银行存管) simulator.

``create_app`` builds the Flask app; ``protocol`` is the wire contract that a
platform may import on its own.
"""
