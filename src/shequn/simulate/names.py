"""The words of a simulated community: nicknames, signatures, and what people say in a group.

Real members' nicknames are written to pass the audit (no leading A trick, no 姐 or 宝宝, no bare
reduplication), except for the few real people who happen to look suspicious: an Amy, a man
buying a gift, a motivational signature. Marketing accounts are built from the seed's signals.
"""

import random
from collections.abc import Sequence
from typing import Literal

Locale = Literal["zh", "en"]
Gender = Literal["female", "male", "unknown"]


def _chars(text: str) -> tuple[str, ...]:
    return tuple(text)


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


SURNAMES = _chars(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏"
    "魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛段雷侯龙史陶黎贺顾毛郝龚邵万"
)
GIVEN_FEMALE = _words(
    "晓雯 雨欣 思琪 梦瑶 佳怡 诗涵 欣怡 雅琴 丽华 秀英 静怡 慧敏 晓燕 玉兰 美玲 春梅 海燕 雪梅 "
    "紫涵 若曦 子萱 一诺 语桐 可馨 梓萌 雨桐 欣然 婉清 佩珊 嘉怡 晓彤 淑芬 桂英 凤霞 红梅 秀兰 "
    "文静 艳 敏 芳 娟 霞 燕 颖 琳 蕾 薇 悦 瑶 洁 珊"
)
GIVEN_MALE = _words(
    "伟 强 磊 军 洋 勇 杰 涛 明 超 浩然 子轩 宇航 俊杰 志强 建华 国庆 海波 文博 晨阳 家豪 天佑"
)
# WeChat-style nicknames: moods, seasons, food, a line of a poem.
PHRASES_ZH = _words(
    "一米阳光 浅笑安然 陌上花开 岁月静好 半夏 微笑向暖 简单就好 清风徐来 橘子汽水 柠檬不萌 "
    "奶茶三分甜 小鹿乱撞 向日葵 晴天 云朵 茉莉花开 梦里水乡 西瓜味的夏天 慢慢来 知足常乐 "
    "时光静好 静待花开 遇见 蓝色天空 星星点灯 听风 念念不忘 安之若素 素年锦时 初心 南风知我意 "
    "海边的风 月亮不睡我不睡 草莓味 栀子花 薄荷糖 木子 一颗柚子 快乐的鱼 春天里 大白兔 "
    "喜欢吃橙子 雨后彩虹 三月桃花 清欢 糖果屋 若水 小确幸 浮生若梦 自在 好好吃饭 穿搭日记 "
    "爱笑的眼睛 猫咪不吃鱼 追光 甜橙 风吹麦浪 人间四月天 山有木兮 桃之夭夭 温柔的晚风 "
    "秋天的第一杯奶茶 柚子茶 晚风 暮色 夏至 白露 清晨的露珠 花间集 芒果布丁 咖啡不加糖"
)
PHRASES_MALE_ZH = _words("风一样的男子 大海 老陈 阳光男孩 平凡人 山河 远方 老李 一路向北 行者")
PET_CHARS = _chars("鹿雨悦静雪月晴云柚橙桃梨萌")
CHILD_NAMES = _words("果果 乐乐 豆豆 糖糖 朵朵 诺诺 轩轩 琪琪 米粒 小满 安安 甜甜")
EMOJI = _words("🌸 🍀 ✨ 🌙 🌷 💕 🌈 🍓 🐱 ☀️ 🌻 🍑")
ENGLISH_FEMALE = _words(
    "Lily Cherry Coco Vivian Grace Iris Jenny Kiki Luna Mia Nina Sophia Yoyo Zoe Cindy Emma "
    "Fiona Helen Ivy Joyce Karen Linda Maggie Olivia Rachel Sandy Tina Vicky Wendy Bella Candy "
    "Daisy Eva Flora Gigi Hannah Jasmine Kelly Lucy Mandy Nancy Peggy Rose Stella Tracy Winnie "
    "Yuki Amy Alice Anna"
)
ENGLISH_MALE = _words(
    "Jack Tony Kevin Leo Eric Jason Peter Sam David Michael Ben Chris Frank Henry Leon Mark "
    "Oscar Ryan Steven Tom Vincent William Andy"
)
ENGLISH_SURNAMES = _words("Chen Wang Li Zhang Liu Lin Huang Smith Brown Lee Nguyen Tan Wong")

# Most real people have no signature; those who do write something like these.
SIGNATURES_ZH = _words(
    "简单生活 爱生活爱美丽 一切都是最好的安排 开心就好 热爱可抵岁月漫长 慢慢变好 "
    "生活明朗,万物可爱 知足常乐 做自己喜欢的事 平安喜乐"
)
SIGNATURES_EN = (
    "Keep it simple",
    "Coffee first",
    "Life is good",
    "Be kind",
    "Enjoy the little things",
)
# Real people write these too; alone they are the audit's weak signal.
MOTIVATIONAL_SIGNATURES = _words("努力成为更好的自己 自律给我自由 坚持就是胜利 奋斗的青春最美")

# Marketing accounts: names, signatures and posts built from the seed's list of signals.
FAKE_A_HEADS = ("A", "A-", "A~", "A.", "A0", "A01-", "AAA", "AA-")
FAKE_A_TAILS = _words("优品女装 好货分享 美妆批发 一手货源 小美优选 服饰 代购 严选 潮牌折扣 丽丽")
FAKE_DIGIT_NAMES = _words("8866✨520 13145201 666888~ 5201314. 99999+ 1688.888 7758521~")
FAKE_SISTER_HEADS = _words("芳 丽 红 娟 霞 小美 阿珍 丽丽")
FAKE_SISTER_TAILS = ("姐", "姐优选", "姐好物", "姐の店")
FAKE_BABY_NAMES = _words("甜心宝宝 宝宝爱美丽 可爱宝宝 宝宝的衣橱 糖果宝宝")
FAKE_REDUPLICATIONS = _words("芬芬 莉莉 娇娇 丽丽 婷婷 倩倩 媛媛 菲菲 萍萍 燕燕")
RECRUITING_SIGNATURES = _words(
    "月入过万,招代理 一部手机在家也能创业 零成本创业,带团队 招募兼职宝妈,日赚300 "
    "厂家直销,一手货源,加v详聊 副业月入两万,不囤货"
)
FAKE_MOTIVATIONAL_SIGNATURES = _words("格局打开,财富自由 人生赢家从改变命运开始 逆袭就在今天")

CHAT_ZH = (
    "大家早上好☀️", "今天有新款吗?", "这件有S码吗", "这个颜色好显白", "已下单,坐等收货",
    "上次买的大衣质量真好", "求链接🙏", "什么时候发货呀", "这条裙子还有货吗", "好看!想要",
    "这个价格可以", "158穿哪个码合适", "有没有买家秀", "已收到,面料很舒服", "群主好",
    "谢谢群主🌹", "哈哈哈哈", "今天降温了,大家多穿点", "这件配什么鞋好看", "可以退换吗",
    "我也想要这款", "有优惠券吗", "蹲一个福利", "晚上见", "昨晚没抢到,今天再来",
    "设计师好厉害", "羊毛的会起球吗", "颜色有色差吗", "去年买的还在穿", "+1", "同问",
    "包邮吗", "快递到哪了", "这个月第三件了哈哈", "好期待今晚", "收到👌", "感谢分享",
    "实物比图片好看", "有没有大码", "黑色和驼色哪个好看", "帮我看看这件", "准备双11囤几件",
    "下单了下单了", "裙子长度到哪里", "洗了会缩水吗", "真的是羊绒吗", "这次活动力度好大",
)  # fmt: skip
CHAT_EN = (
    "Good morning everyone ☀️", "Any new arrivals today?", "Is this one available in S?",
    "Ordered! Can't wait", "Link please 🙏", "When does it ship?", "Love this colour",
    "Thanks!", "+1", "See you tonight", "Same question", "Is shipping free?",
    "Got mine today, the fabric is lovely", "Which size for 158 cm?", "Any coupons left?",
    "Black or camel?", "Does it shrink in the wash?", "Great deal this time",
)  # fmt: skip
SIGN_INS_ZH = ("签到", "签到✅", "打卡签到", "早安,签到", "签到+1")
SIGN_INS_EN = ("check-in", "Check in ✅", "Morning check-in")
EVENING_ZH = (
    "来了来了", "等抽奖", "希望中奖🙏", "冲冲冲", "又没中😭", "恭喜恭喜", "明天继续",
    "手气不好哈哈", "好激动", "准时报到",
)  # fmt: skip
EVENING_EN = ("Here!", "Waiting for the draw", "Fingers crossed 🙏", "Congrats!", "Next time!")
SLOGAN_ZH = "今晚8:30,群内抽奖"
SLOGAN_EN = "Draw tonight at 8:30 in the group"
ADS_ZH = (
    "加v了解详情,一件代发", "招代理,月入过万,私聊", "全网最低价货源,需要的私我",
    "兼职宝妈看过来,一部手机就能做", "厂家直销,免费拿样",
)  # fmt: skip
ADS_EN = ("DM me for wholesale prices", "Earn from home, message me", "Cheapest supplier, add me")
EMOJI_REACTIONS = ("👍", "❤️", "🌹", "🎉", "😂", "🔥", "👏")
# Staff posts: what the seed's operators posted at each point of a campaign day.
STAFF_ZH = {
    "morning": "早上好!今天也要美美的🌸 签到领积分哦",
    "teaser": "今晚8:30群内抽奖,送当季新款一件!大家刷起来:今晚8:30,群内抽奖",
    "draw": "抽奖开始啦!🎉 今晚送出当季新款一件",
    "result": "恭喜 @{winner} 获得当季新款一件!🎉 奖状已发,找客服领取",
    "next": "明晚8:30还有神秘福利,不见不散~",
    "coupon": "100元无门槛券已发放,人人有份!点击小程序领取",
    "sale": "双11正式开抢!价格已更新,点击小程序下单",
    "welcome": "欢迎新朋友进群!每晚8:30群内抽奖,邀请好友进群还有奖励",
}
STAFF_EN = {
    "morning": "Good morning! Check in for points today 🌸",
    "teaser": "Draw tonight at 8:30 in the group: a new-season piece! Spread the word",
    "draw": "The draw starts now! 🎉",
    "result": "Congratulations @{winner}, you won a new-season piece! 🎉",
    "next": "Another surprise tomorrow at 8:30, don't miss it",
    "coupon": "A ¥100 no-threshold coupon for everyone: open the mini program to claim it",
    "sale": "The sale is on! Prices are live in the mini program",
    "welcome": "Welcome! A draw every evening at 8:30; invite friends for rewards",
}
CITIES = _words(
    "北京 上海 广州 深圳 杭州 南京 成都 重庆 武汉 西安 苏州 天津 长沙 郑州 青岛 厦门 宁波 合肥 "
    "昆明 福州 济南 大连 沈阳 哈尔滨 南昌 无锡 东莞 佛山 贵阳 南宁"
)
DISTRICTS = _words("中心 万达 银泰 大悦城 来福士 步行街 新城 滨江 高新 东站 西湖 江北 南湖 北城")
STAFF_GIVEN = _words("小雅 小静 小王 小林 阿敏 小周 小唐 小陈 小美 小杨")


def _pick(rng: random.Random, pool: Sequence[str]) -> str:
    return pool[rng.randrange(len(pool))]


def real_nickname(rng: random.Random, gender: Gender, *, english_share: float) -> str:
    """A nickname a real shopper might have."""
    if rng.random() < english_share:
        name = _pick(rng, ENGLISH_MALE if gender == "male" else ENGLISH_FEMALE)
        roll = rng.random()
        if roll < 0.25:
            return f"{name} {_pick(rng, ENGLISH_SURNAMES)}"
        if roll < 0.4:
            return f"{name}{_pick(rng, SURNAMES)}"
        return name
    roll = rng.random()
    if gender == "male":
        if roll < 0.5:
            return _pick(rng, SURNAMES) + _pick(rng, GIVEN_MALE)
        return _pick(rng, PHRASES_MALE_ZH)
    if roll < 0.25:
        return _pick(rng, SURNAMES) + _pick(rng, GIVEN_FEMALE)
    if roll < 0.6:
        return _pick(rng, PHRASES_ZH)
    if roll < 0.72:
        return "小" + _pick(rng, PET_CHARS)
    if roll < 0.85:
        return _pick(rng, EMOJI) + _pick(rng, PHRASES_ZH)
    if roll < 0.93:
        return _pick(rng, CHILD_NAMES) + ("妈妈" if rng.random() < 0.6 else "妈")
    return _pick(rng, PHRASES_ZH) + _pick(rng, EMOJI)


def real_signature(rng: random.Random, locale: Locale, *, motivational_share: float) -> str | None:
    """Most have none; a few write a motivational line that alone is no reason to kick."""
    roll = rng.random()
    if roll < motivational_share:
        return _pick(rng, MOTIVATIONAL_SIGNATURES)
    if roll < 0.3:
        return _pick(rng, SIGNATURES_EN if locale == "en" else SIGNATURES_ZH)
    return None


def fake_nickname(rng: random.Random, look: str) -> str:
    """A marketing account's nickname showing one of the seed's name signals."""
    if look == "a_prefix":
        return _pick(rng, FAKE_A_HEADS) + _pick(rng, FAKE_A_TAILS)
    if look == "digits":
        return _pick(rng, FAKE_DIGIT_NAMES)
    if look == "sister":
        return _pick(rng, FAKE_SISTER_HEADS) + _pick(rng, FAKE_SISTER_TAILS)
    if look == "baby":
        return _pick(rng, FAKE_BABY_NAMES)
    return _pick(rng, FAKE_REDUPLICATIONS)


FAKE_LOOKS = ("a_prefix", "digits", "sister", "baby", "reduplication")


def fake_signature(rng: random.Random) -> str:
    return _pick(rng, RECRUITING_SIGNATURES if rng.random() < 0.7 else FAKE_MOTIVATIONAL_SIGNATURES)


def staff_nickname(rng: random.Random, title: str) -> str:
    return f"{title}-{_pick(rng, STAFF_GIVEN)}"


def store_name(rng: random.Random) -> str:
    return _pick(rng, CITIES) + _pick(rng, DISTRICTS) + "店"
