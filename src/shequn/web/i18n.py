"""The dashboard's words in Chinese and English; the page asks by key, never by sentence."""

from collections.abc import Callable

LANGUAGES = ("zh", "en")

WORDS: dict[str, dict[str, str]] = {
    "title": {"zh": "社群运营台", "en": "Community dashboard"},
    "overview": {"zh": "概览", "en": "Overview"},
    "groups": {"zh": "社群", "en": "Groups"},
    "audit": {"zh": "审核", "en": "Audit"},
    "lotteries": {"zh": "抽奖", "en": "Lotteries"},
    "fission": {"zh": "裂变排行", "en": "Fission boards"},
    "inviter": {"zh": "邀请人", "en": "Inviter"},
    "effective": {"zh": "有效邀请", "en": "Effective"},
    "invited": {"zh": "邀请", "en": "Invited"},
    "flagged": {"zh": "可疑", "en": "Flagged"},
    "no_campaigns": {"zh": "还没有裂变活动", "en": "No fission campaigns yet"},
    "logout": {"zh": "退出", "en": "Log out"},
    "login": {"zh": "登录", "en": "Log in"},
    "org": {"zh": "企业", "en": "Org"},
    "username": {"zh": "用户名", "en": "Username"},
    "password": {"zh": "密码", "en": "Password"},
    "bad_login": {"zh": "用户名或密码不对", "en": "Wrong username or password"},
    "throttled": {
        "zh": "尝试次数过多,请 5 分钟后再试",
        "en": "Too many attempts: try again in 5 minutes",
    },
    "today": {"zh": "今天", "en": "Today"},
    "yesterday": {"zh": "昨天", "en": "Yesterday"},
    "members": {"zh": "成员", "en": "Members"},
    "joins": {"zh": "入群", "en": "Joins"},
    "leaves": {"zh": "退群", "en": "Leaves"},
    "kicked": {"zh": "移出", "en": "Kicked"},
    "messages": {"zh": "消息", "en": "Messages"},
    "active": {"zh": "活跃", "en": "Active"},
    "orders": {"zh": "订单", "en": "Orders"},
    "buyers": {"zh": "购买人数", "en": "Buyers"},
    "gmv": {"zh": "成交额", "en": "GMV"},
    "conversion": {"zh": "转化率", "en": "Conversion"},
    "group": {"zh": "群", "en": "Group"},
    "day": {"zh": "日期", "en": "Day"},
    "store": {"zh": "门店", "en": "Store"},
    "last_7_days": {"zh": "近 7 天", "en": "Last 7 days"},
    "last_14_days": {"zh": "近 14 天", "en": "Last 14 days"},
    "awaiting_review": {"zh": "待审核成员", "en": "Members awaiting review"},
    "member": {"zh": "成员", "en": "Member"},
    "score": {"zh": "分数", "en": "Score"},
    "verdict": {"zh": "结论", "en": "Verdict"},
    "signals": {"zh": "可疑信号", "en": "Signals"},
    "decide": {"zh": "处理", "en": "Decide"},
    "kick": {"zh": "移出", "en": "Kick"},
    "keep": {"zh": "保留", "en": "Keep"},
    "whitelist": {"zh": "白名单", "en": "Whitelist"},
    "decided": {"zh": "已处理", "en": "Decided"},
    "nothing_to_review": {"zh": "没有待审核的成员", "en": "Nobody awaits review"},
    "draw": {"zh": "抽奖编号", "en": "Draw"},
    "status": {"zh": "状态", "en": "Status"},
    "at": {"zh": "时间", "en": "At"},
    "entrants": {"zh": "参与人数", "en": "Entrants"},
    "verify": {"zh": "验证", "en": "Verify"},
    "no_personal_data": {"zh": "分析角色不显示个人信息", "en": "Analysts see no personal data"},
    "members_chart": {"zh": "每日成员与消息", "en": "Members and messages per day"},
    "gmv_chart": {"zh": "每日成交额 (元)", "en": "GMV per day (¥)"},
}


def translator(lang: str) -> Callable[[str], str]:
    chosen = lang if lang in LANGUAGES else "zh"
    return lambda key: WORDS[key][chosen]
