"""What commerce tells members and operators, in Chinese and English (the org's `commerce_lang`)."""

from collections.abc import Mapping

from shequn.kit.money import format_amount

TEXTS: Mapping[str, Mapping[str, str]] = {
    "coupon_issued": {
        "zh": "🎁 你获得一张优惠券「{name}」,券码 {code}{until}。",
        "en": "🎁 You got a coupon “{name}”, code {code}{until}.",
    },
    "coupon_dropped": {
        "zh": "🎁 优惠券「{name}」已发到每位群友账户,共 {count} 张{until},下单时使用!",
        "en": "🎁 A “{name}” coupon is now in every member's account ({count} issued){until}: "
        "use it when you order!",
    },
    "until": {"zh": ",有效期至 {at}", "en": ", valid until {at}"},
    "team_opened": {
        "zh": "拼团「{name}」已开团,{hours} 小时内满 {size} 人即按 ¥{price} 成团,快邀请好友!",
        "en": "Group-buy “{name}” is open: {size} people within {hours} hours buy at ¥{price} "
        "each. Invite your friends!",
    },
    "team_succeeded": {
        "zh": "🎉 拼团「{name}」成团!{size} 人,每人 ¥{price}{refund}。",
        "en": "🎉 Group-buy “{name}” succeeded: {size} people at ¥{price} each{refund}.",
    },
    "team_refund_part": {"zh": ",差价 ¥{amount} 将退回", "en": "; ¥{amount} comes back to you"},
    "team_failed": {
        "zh": "拼团「{name}」未在时限内成团({size}/{needed} 人),已付 ¥{amount} 将全额退回。",
        "en": "Group-buy “{name}” did not fill in time ({size}/{needed} people): the ¥{amount} "
        "you paid will be refunded in full.",
    },
    "refund_task": {
        "zh": "拼团「{name}」:退款 ¥{amount} 给 {member}{order}。",
        "en": "Group-buy “{name}”: refund ¥{amount} to {member}{order}.",
    },
    "refund_task_order": {"zh": "(订单 {order})", "en": " (order {order})"},
    "bargain_cut": {
        "zh": "🔪 {friend} 帮你砍掉 ¥{amount}!还差 {left} 刀,当前价 ¥{price}。",
        "en": "🔪 {friend} cut ¥{amount} off! {left} more to go; the price is now ¥{price}.",
    },
    "bargain_done": {
        "zh": "🎉 砍价成功!现价 ¥{price},快去下单吧。",
        "en": "🎉 Bargain complete: the price is now ¥{price}. Go and order!",
    },
    "bargain_expired": {
        "zh": "砍价「{sku}」已到期,共砍掉 ¥{cut}。",
        "en": "Your bargain on “{sku}” has ended with ¥{cut} cut.",
    },
    "assist_progress": {
        "zh": "💪 {friend} 为你助力!还差 {left} 位好友。",
        "en": "💪 {friend} helped you! {left} more friends to go.",
    },
    "assist_expired": {
        "zh": "助力任务已到期({helped}/{needed} 位好友),下次再来!",
        "en": "Your assist task has ended ({helped}/{needed} friends). Try again next time!",
    },
}


def say(key: str, lang: str, **values: object) -> str:
    templates = TEXTS[key]
    return templates.get(lang, templates["zh"]).format(**values)


def yuan(minor: int) -> str:
    return format_amount(minor)
