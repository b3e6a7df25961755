"""The world's categorical values and their integer codes.

Why integer codes: blocks are simulated as NumPy arrays, so a channel or an event kind is a small integer
until a column is written, when :func:`~liuliang.simulate.arrays.decode` turns it into its name. The order
of each tuple *is* the coding; :class:`~liuliang.simulate.params.ConsumerParams`' per-channel tuples are
indexed by :data:`CHANNELS`.
"""

CHANNELS = ("organic", "red_packet", "free_order", "social_share")
ORGANIC, RED_PACKET, FREE_ORDER, SOCIAL_SHARE = range(4)
CAMPAIGNS = ("organic", "cny2026_red_packet", "cny2026_treat_you", "cny2026_share")
EVENT_KINDS = ("app_open", "ask", "order", "redeem_red_packet", "share")
EV_OPEN, EV_ASK, EV_ORDER, EV_REDEEM, EV_SHARE = range(5)
INCENTIVE_KINDS = ("red_packet", "coupon", "free_order", "transfer_bonus", "points", "other")
INC_RED_PACKET, INC_COUPON, INC_FREE_ORDER, INC_TRANSFER, INC_POINTS, INC_OTHER = range(6)
CARD_PLANS = ("immediate", "deadline", "organic")
COUPON_CAMPAIGN = "first_order_off"
