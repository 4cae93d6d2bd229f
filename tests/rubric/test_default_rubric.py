"""The default rubric on phrasings written for these tests (not from any dataset).

These are the "disguised" forms the scorecard must catch, and the polite forms it must not.
"""

from __future__ import annotations

from functools import cache

import pytest

from qa_pipeline.classifiers import load_classifier
from qa_pipeline.rubric import load_rubric
from qa_pipeline.rubric.models import RubricModels, classifier_rules
from qa_pipeline.rubric.rules import MatchContext
from qa_pipeline.settings import PROJECT_DIR, Settings
from qa_pipeline.types import Conversation, Turn

RUBRIC = load_rubric(PROJECT_DIR / "rubrics" / "default.yaml")

BANNED = [
    "这事我真不清楚，你问别人吧",
    "你爱办不办",
    "反正就这价，爱要不要",
    "这不是我们部门负责的",
    "嫌麻烦就别办了",
    "我说了多少遍了",
    "你到底听没听懂",
    "您别在这嚷嚷了",
    "投诉也没什么用",
    "催也没用，等着",
    "你自己上网查",
    "这种事你都不知道？",
    "跟我喊有什么用",
    "我们也没有办法",
    "不想等就退掉拉倒",
    "您这种情况我管不着",
    "你是不是没看短信",
    "我也不晓得",
    "问我也没用",
    "你们这种人就是难伺候",
    "这个不贵我管",  # homophone of 归
]
POLITE = [
    "不知道您方便接电话吗",
    "没办法直接退款，建议您先申请售后",
    "我帮您查一下",
    "您自己决定就好，我这边都可以办理",
    "理解您，我马上给您处理",
    "您可以自己在APP里查看进度，我也可以帮您查",
    "请您稍等",
    "给您添麻烦了，非常抱歉",
    "您放心，不会影响您的信用",
    "这个规则确实容易让人误会，我给您解释一下",
]


def _agent_hits(rule_owner, text: str) -> list:
    conv = Conversation(id="x", channel="chat", turns=[Turn(speaker="agent", text=text, norm=text)])
    return rule_owner.find(MatchContext(conv=conv, named=dict(RUBRIC.rules)))


@pytest.mark.parametrize("text", BANNED)
def test_disguised_banned_phrases_are_caught(text: str) -> None:
    assert _agent_hits(RUBRIC.item("forbidden_phrase").check.rule, text), text  # type: ignore[union-attr]


@pytest.mark.parametrize("text", POLITE)
def test_polite_forms_are_not_banned(text: str) -> None:
    assert not _agent_hits(RUBRIC.item("forbidden_phrase").check.rule, text), text  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "text",
    [
        "换我也得着急",
        "您先别急，我马上查",
        "这事搁谁身上都窝火",
        "让您跑了好几趟，真是辛苦您了",
        "您的心情我完全理解",
        "理解您想早点拿到钱，这个要走银行的通道",  # understanding of the customer's own point (stop 28)
        "理解理解 那我给您申请一下",
        "您这个顾虑很正常，到期前会提醒您",
        "阿姨您别太难过，我们一起想办法",
        "理解 这个 价格 确实 不 低 我 给 您 看看 别的 方案",  # words a recogniser wrote apart (stop 28)
    ],
)
def test_empathy_without_sorry(text: str) -> None:
    assert _agent_hits(RUBRIC.rules["apology_or_empathy"], text), text


@pytest.mark.parametrize(
    "text",
    [
        "您理解错了，这是两回事",
        "您要理解我们的规定",
        "这个不太好理解吧",
        "好的，我理解您说的是想退款对吧",  # a paraphrase (found in review)
        "明白您要办理退款，请提供订单号",
        "我们考虑到价格合理才这么定的",
        "明白 了 我 这就 帮 您 查",  # understood, as "got it"
    ],
)
def test_understanding_that_corrects_or_demands_is_no_empathy(text: str) -> None:
    assert not _agent_hits(RUBRIC.rules["apology_or_empathy"], text), text


# each objection after the agent turn it answers (the trigger reads the pair)
OBJECTIONS = [
    ("这款套餐每月一百九十九元。", "这价格也太离谱了吧，隔壁店便宜一半"),
    ("这个月的月租已经扣了，下个月起停用。", "那我不办了，直接销户吧"),
    ("补办的卡三个工作日寄到。", "三个工作日？我明天就要用啊"),
    ("系统显示明天一定能到。", "你们说的我不太信，上回也是这么说的"),
    ("退货的运费需要您先垫付。", "运费凭什么让我出？"),
    ("现在办理年卡可以打八折。", "我再考虑考虑吧"),
    ("升级后的套餐是两百九十八一个月。", "这么贵的套餐谁用得起"),
    ("我们会再派师傅去看一次。", "要是还不行我就去消协投诉"),
    ("按规定只能赔付您五十元。", "你们这个赔偿标准太低了"),
    ("维修大概需要十五个工作日。", "不能再快点吗？"),
]
NOT_OBJECTIONS = ["好的，谢谢", "那我需要准备什么材料？", "嗯，明白了", "可以，就这么办吧", "大概几点送到？"]


@cache
def _models() -> RubricModels:
    """The shipped models the default rubric names: its keyword lists count only where a model leans."""
    rules = classifier_rules(RUBRIC)
    return RubricModels(
        {r.model: load_classifier(r.model, models_dir=Settings().models_dir) for r in rules}, rules
    )


def _customer_reply(text: str, agent: str = "您好，您说") -> list:
    turns = [
        Turn(speaker="customer", text="你好，我想问个事", norm="你好，我想问个事"),
        Turn(speaker="agent", text=agent, norm=agent),
        Turn(speaker="customer", text=text, norm=text),
    ]
    conv = Conversation(id="x", channel="chat", turns=turns)
    (preds,) = _models().predict([conv])
    trigger = RUBRIC.item("objection_handling").check.trigger  # type: ignore[union-attr]
    return trigger.find(MatchContext(conv=conv, named=dict(RUBRIC.rules), model_preds=preds))


@pytest.mark.slow
@pytest.mark.parametrize(("agent", "text"), OBJECTIONS)
def test_objections_after_the_opening_are_detected(agent: str, text: str) -> None:
    assert _customer_reply(text, agent), text


@pytest.mark.slow
@pytest.mark.parametrize("text", NOT_OBJECTIONS)
def test_plain_replies_are_not_objections(text: str) -> None:
    assert not _customer_reply(text), text


@pytest.mark.parametrize(
    ("text", "is_request"),
    [
        ("麻烦报一下机主身份证后六位", True),
        ("请问您是账户本人吗？", True),
        ("被保险人是张三，预留电话是138****0000", False),  # stating the data is a disclosure, not a check
    ],
)
def test_verification_must_be_asked_not_stated(text: str, is_request: bool) -> None:
    assert bool(_agent_hits(RUBRIC.rules["verification_request"], text)) is is_request


@pytest.mark.parametrize(
    ("rule", "asr_text"),
    [
        ("self_intro_words", "你好，新年通信客服，公号二零六"),  # 公号 for 工号
        ("self_intro_words", "您好，乐购网客福小租"),  # 客福 for 客服
        ("verification_request", "麻烦报一下下单手机好"),  # 手机好 for 手机号
    ],
)
def test_asr_homophones_still_match(rule: str, asr_text: str) -> None:
    assert _agent_hits(RUBRIC.rules[rule], asr_text), asr_text


def _introduced(*agent_turns: str) -> bool:
    turns = [Turn(speaker="agent", text=t, norm=t) for t in agent_turns]
    conv = Conversation(id="x", channel="call", turns=turns)
    check = RUBRIC.item("self_intro").check.rule  # type: ignore[union-attr]
    return bool(check.find(MatchContext(conv=conv, named=dict(RUBRIC.rules))))


@pytest.mark.parametrize(
    ("opening", "introduced"),
    [
        ("青禾燃气。", True),  # the company's name is the introduction
        ("您好，北辰保险理赔中心，请讲。", True),
        ("长风物流，您说。", True),
        ("你好，这里是南岭数码售后，有什么需要？", True),
        ("客服小周为您服务，请问有什么可以帮您？", True),
        ("3021号为您服务。", True),
        ("您好，很高兴为您服务。", False),  # a formula that names nobody
        ("您好，请问有什么可以帮您？", False),
        ("收到。", False),
        ("稍等，马上查。", False),
        # interjections and steps are not names (a code review's list)
        ("稍等片刻。", False),
        ("马上处理！", False),
        ("订单已发货。", False),
        ("欢迎来电，请问", False),
        ("嗯嗯，请说", False),
        ("喂喂，请讲", False),
        ("亲亲，有什么可以帮您的", False),
        ("ok，请讲", False),
        ("我们24小时为您服务。", False),
        # who the agent is, in any role, or where this is (stop 23)
        ("您好，我是售后工程师阿杰，请问哪里不好用？", True),
        ("您好，我是理财经理方敏。", True),
        ("您好，欢迎致电青松物业，请问有什么事？", True),
        ("您好，这边是北湖驾校，您说。", True),
        ("我是说您这个订单还没付款。", False),
        ("我是想确认一下您的地址。", False),
        ("这是我们的规定。", False),
        ("报告要在公众号里查，我们平台这边是看不到的。", False),  # a copula mid-clause
        ("这个我是不太清楚。", False),
        ("好的，这边是可以帮您改地址的。", False),  # a code review's list: clauses, not names
        ("我是跟您确认一下，您要改到哪个地址？", False),
        ("好的，我叫师傅明天上门。", False),
        ("这边是查不到的。", False),
        ("您好，欢迎来电咨询。", False),
    ],
)
def test_an_opening_names_the_agent_or_the_company(opening: str, introduced: bool) -> None:
    assert _introduced(opening, "请问您要办理什么业务？") is introduced, opening


def test_a_company_name_opening_counts_when_the_customer_spoke_first() -> None:
    turns = [
        Turn(speaker="customer", text="喂？", norm="喂？"),
        Turn(speaker="agent", text="青禾燃气，请讲。", norm="青禾燃气，请讲。"),
    ]
    conv = Conversation(id="x", channel="call", turns=turns)
    check = RUBRIC.item("self_intro").check.rule  # type: ignore[union-attr]
    assert check.find(MatchContext(conv=conv, named=dict(RUBRIC.rules)))


def _disclosure_after(customer: str, agent: str = "好的，我来处理") -> bool:
    from qa_pipeline.text.numerals import matching_view

    pairs = (("customer", customer), ("agent", agent))
    # each turn's numerals as the segment stage gives them to the rules
    turns = [Turn(speaker=s, text=t, norm=matching_view(t)) for s, t in pairs]
    conv = Conversation(id="x", channel="chat", turns=turns)
    return bool(RUBRIC.rules["account_disclosure"].find(MatchContext(conv=conv, named=dict(RUBRIC.rules))))


@pytest.mark.parametrize(
    ("customer", "disclosed"),
    [
        ("我的会员卡尾号6621", True),  # identifiers the agent then acts on
        ("订单号是 2024 8891 3302", True),
        ("后六位是310524", True),
        ("尾号六六二一余额不足了", True),  # a named identifier, whatever word follows it
        ("手机号13812345678套餐怎么变了", True),  # 9+ digits: always an identifier
        ("卡号6230115523456789年费怎么收", True),
        ("我用13812345678来注册的", True),
        ("别家才3000多，你们贵了一倍", False),  # quantities and places are not identifiers
        ("我要订200株，一共1280元对吧", False),
        ("我住3号楼1502室，楼上漏水", False),
        ("小区是8栋2201，能装宽带吗", False),
        ("这台4500块买的", False),
        ("你们报价5200？别家才4600", False),  # a round number is a quantity, unit or not
        ("全程班要5800，有便宜点的吗", False),
        ("312810", True),  # an identifier read out may end in 0 (as the recogniser writes it)
        ("身份证后六位是三幺二八幺零", True),
        # spoken quantities keep their 千/万 in the display text (the numeral view reads 3800, 2500)
        ("三千八？这也太贵了吧", False),
        ("隔壁家才两千五", False),
        ("八千到一万二？这么贵啊", False),
        ("幺三八一二三四五六七八", True),  # an identifier read digit by digit
        ("尾号八八三二", True),
        (
            "手机号１３８１２３４５６７８套餐怎么变了",
            True,
        ),  # full-width digits, as typed on a Chinese keyboard
        ("订单１２３４５６７８怎么还没到", True),
        ("我的会员号是三千零二十一", True),  # named as an identifier: read positionally too
    ],
)
def test_a_number_the_customer_reads_out_is_an_identifier_not_a_quantity(
    customer: str, disclosed: bool
) -> None:
    assert _disclosure_after(customer) is disclosed, customer


@pytest.mark.parametrize(
    ("agent", "disclosed"),
    [
        ("我这边看到您上个月有一笔扣费", True),
        ("查到了，您的包裹在转运中心", True),
        ("我这边能看到您上个月有一笔扣费", True),
        ("我可以帮您取消这个套餐", True),  # an action, whatever the modal
        ("您在APP里就能看到明细", False),  # where the customer can look, not what the agent found
        ("退款到账后账单里会显示", False),
        ("这个在公众号里可以查到", False),
        ("报告出来以后在公众号里能查到", False),
        ("成功率系统不显示的", False),  # what cannot be seen is no disclosure
        ("我这边可以看到您上月有一笔扣费", True),  # the agent's side can see: a lookup
        ("我这里能看到退款上周已经原路退回了", True),
        ("我们能查到这笔扣款是上个月的", True),
        ("能看到的，在订单详情里", False),
        ("您可以看到明细", False),
    ],
)
def test_a_lookup_is_one_the_agent_reports(agent: str, disclosed: bool) -> None:
    assert _disclosure_after("你好，我想问一下", agent) is disclosed, agent


def _conversation(turns: tuple[tuple[str, str], ...], channel: str = "call") -> Conversation:
    """A conversation of (speaker, text) turns with the matching view the segment stage gives them."""
    from qa_pipeline.text.numerals import matching_view

    return Conversation(
        id="x", channel=channel, turns=[Turn(speaker=s, text=t, norm=matching_view(t)) for s, t in turns]
    )


def _identity(*turns: tuple[str, str]) -> str:
    from qa_pipeline.rubric.scorecard import Scorecard

    return Scorecard(RUBRIC).evaluate(_conversation(turns))["identity_check"].verdict


@pytest.mark.parametrize(
    "confirmation",
    [
        "核实好了。系统显示签收方式是本人签收，派送员是西城站的小马。",
        "好的，您是王秀英本人是吧，查到了，您的卡现在是制卡中。",
    ],
)
def test_a_turn_that_confirms_the_check_and_discloses_is_the_disclosure(confirmation: str) -> None:
    """Written for this test: the agent asked, the customer answered, and the agent's next turn both
    confirms the check and discloses: verified before the disclosure (was na: the turn read as a
    verification request only)."""
    asked = ("agent", "我帮您核实一下，请报一下身份证后四位。")
    assert (
        _identity(
            ("customer", "我的快递怎么显示签收了"), asked, ("customer", "五五零八。"), ("agent", confirmation)
        )
        == "pass"
    )


def test_a_check_asked_right_after_a_lookup_key_is_still_no_disclosure() -> None:
    turns = (
        ("customer", "订单号 XZ20240611778"),
        ("agent", "为了保护账户安全，麻烦再提供下绑定手机号后四位。"),
        ("customer", "8807"),
        ("agent", "查到了，您的包裹在转运中心。"),
    )
    assert _identity(*turns) == "pass"


@pytest.mark.parametrize(
    ("text", "banned"),
    [
        ("您办卡的时候就该问清楚的", True),  # hindsight: you + a past moment + should
        ("你当初要是多买一份保险就好了", True),
        ("这个条款您报名之前就应该看一下", True),
        ("当时您自己就该核对一下金额", True),
        ("您下单的时候应该收到过一条短信", False),  # 应该 as "probably", not "should have"
        ("您到的时候应该已经开门了", False),
        ("医生当时应该跟您讲清楚，是我们没做好", False),  # the agent's side takes the blame
        ("您下次下单时可以先看一下规格表", False),  # advice for next time, not blame for the past
        # advice about the future and conditions, not hindsight (a code review's list)
        ("您24小时内如果没收到退款，可以再联系我们", False),
        ("您到时候如果还有问题可以随时联系我们", False),
        ("您收到货的时候如果发现有破损，可以直接拒收", False),
        ("您去之前应该先打个电话确认一下营业时间", False),
        ("您下单时应该选的是次日达，我帮您查一下", False),
        ("您到时就得带上身份证原件", False),
        ("您当时如果拍了照片的话可以发给我们", False),
        ("您签收的时候应该当面检查的", True),  # 应该 … 的 closing the clause: should have
    ],
)
def test_hindsight_blame_is_banned_in_polite_words(text: str, banned: bool) -> None:
    """Written for this test (not from any dataset)."""
    assert bool(_agent_hits(RUBRIC.rules["hindsight_blame"], text)) is banned, text


def test_a_confirming_turn_needs_the_customers_answer_after_the_check() -> None:
    """A code review's case: the agent asks for a check and, without an answer, discloses."""
    turns = (
        ("customer", "订单20240611778怎么还没到"),
        ("agent", "麻烦提供一下绑定手机号后四位。"),
        ("agent", "您是本人吧？查到了，您的包裹在转运中心。"),
    )
    assert _identity(*turns) == "na"


@pytest.mark.parametrize(
    ("text", "banned"),
    [
        ("这个开学的时候讲过好几遍的", True),  # told before
        ("签约那天顾问也提醒过您这个风险", True),
        ("您是一直没看群里的通知吗？", True),
        ("您出门前应该先确认一下的呀", True),  # ought to have … 的呀
        ("这个还是得提前规划好的哦", True),
        ("按时续费的话就不会这样了", True),  # would not have happened
        ("可能您对这方面不太了解", True),  # condescension
        ("这种情况大多是用户自己操作的问题", True),
        ("我跟你说过好几遍了", True),
        ("我早就告诉过您了", True),
        ("您下单时应该选的是次日达，我帮您查一下", False),  # 应该 as "probably"
        ("应该是系统延迟了，我帮您催一下", False),
        ("我跟同事说过好几次了，一定给您加急", False),  # what the agent told a colleague
        ("您是不是没收到验证码？我再发一次", False),
        ("您下次出门前可以先确认一下", False),  # advice for next time
        # a code review's polite turns near the patterns (stop 24)
        ("我知道您已经说过好几遍了，真的很抱歉让您反复解释", False),
        ("我们已经通知过好几次快递公司了，今天一定给您送到", False),
        ("我们之前就通知过你们物业了，明天上午派人过去", False),
        ("退款应该两三天就到账的哦，到了会有短信", False),
        ("按规定您应该享受九折的呀，我马上帮您申请", False),
        ("这个业务需要提前一天预约的哦，我现在帮您约上", False),  # a rule stated
        ("得先实名认证的哦，我一步步教您", False),
        ("我帮您把限额调高，这样的话就不会出现这种情况了", False),  # advice
        ("可能您说的这个情况我不太了解，我帮您问一下专员", False),  # the agent does not know
        ("这个不是用户自己操作的问题，是我们系统的故障，非常抱歉", False),
        ("您是没听到吗？信号不太好，我再说一遍", False),
        ("师傅上门前应该先联系您的呀，这是我们的失误，非常抱歉", False),  # the agent's side
    ],
)
def test_implying_the_customer_should_have_known_better_is_banned(text: str, banned: bool) -> None:
    """Written for this test (not from any dataset)."""
    assert bool(_agent_hits(RUBRIC.rules["knew_better"], text)) is banned, text


@pytest.mark.parametrize(
    ("text", "banned"),
    [
        ("您要是不同意这个价格，那就取消吧", True),
        ("嫌贵的话您可以不买", True),
        ("这种事情您肯定懂的吧", True),
        ("这些操作大家都会的呀", True),
        ("一百块修个电脑，您在开玩笑吧", True),
        ("说明书上写得明明白白，您是没仔细看吧", True),
        ("如果您不满意，可以申请全额退款", False),  # an option, not a dismissal
        ("您应该已经收到短信了", False),
        ("这个道理我们也跟师傅讲了，他会注意", False),
        ("大家都可以在App里自助办理，我也可以帮您办", False),
    ],
)
def test_take_it_or_leave_it_and_talking_down_are_banned(text: str, banned: bool) -> None:
    """Written for this test (not from any dataset)."""
    assert bool(_agent_hits(RUBRIC.rules["leave_it_or_obvious"], text)) is banned, text


@pytest.mark.parametrize(
    ("turns", "verdict"),
    [
        (  # the agent asks for a call-back number and reads it back
            (
                ("customer", "我想预约一下周六的体验课"),
                ("agent", "好的，麻烦留一下您的姓名和电话，老师回头联系您。"),
                ("customer", "我姓王，电话是150 **** 3344。"),
                ("agent", "好的王女士，150 **** 3344，已经记下了，明天老师会给您回电。"),
            ),
            "na",
        ),
        (  # the customer leaves a number to be reached on
            (
                ("customer", "柜子打不开，你们派人来看看吧"),
                ("agent", "好的，我这边派单给师傅。"),
                ("customer", "回电就打我这个号，138 **** 2269"),
                ("agent", "好的，师傅半小时内到，到了打138 **** 2269。"),
            ),
            "na",
        ),
        (  # a contact word and an account in one turn: the account is acted on (a code review's case)
            (
                ("customer", "收货地址写错了"),
                ("agent", "好的，您说一下。"),
                ("customer", "地址要改，订单号2024050112345"),
                ("agent", "好的，已经帮您改好了。"),
            ),
            "fail",
        ),
    ],
)
def test_a_number_taken_down_as_a_contact_is_no_disclosure(
    turns: tuple[tuple[str, str], ...], verdict: str
) -> None:
    """Written for this test: no record is touched when a number is taken down to call back (was fail:
    the number read out looked like an account the agent acted on)."""
    assert _identity(*turns) == verdict


def test_a_check_and_a_lookup_in_words_written_apart_still_count() -> None:
    """Written for this test: recogniser output with a space between words (查 到 了)."""
    turns = (
        ("customer", "我 卡 里 昨天 被 扣 了 钱"),
        ("agent", "是 持卡 人 本人 吗 报 一下 身份证 后 四 位"),
        ("customer", "是 本人 后 四 位 五 五 零 八"),
        ("agent", "嗯 查 到 了 昨天 晚上 有 一 笔 自动 续费"),
    )
    assert _identity(*turns) == "pass"


@pytest.mark.parametrize(
    ("turns", "verdict"),
    [
        (  # a figure of the customer's records, with no lookup word, before any check
            (
                ("customer", "我这个月网怎么这么慢"),
                ("agent", "您这个套餐是一百三十九的，本月已经用了四十二个G，超过四十G会降速。"),
            ),
            "fail",
        ),
        (  # the same figure after a check asked and answered
            (
                ("customer", "我这个月网怎么这么慢"),
                ("agent", "我帮您看看，请问您是机主本人吗？"),
                ("customer", "是我本人。"),
                ("agent", "您这个套餐是一百三十九的，本月已经用了四十二个G，超过四十G会降速。"),
            ),
            "pass",
        ),
        (  # a general figure, nobody's record
            (
                ("customer", "你们的宽带多少钱"),
                ("agent", "五百兆的套餐每个月一百二十九元，签两年送路由器。"),
            ),
            "na",
        ),
    ],
)
def test_a_figure_of_the_customers_records_is_a_disclosure(
    turns: tuple[tuple[str, str], ...], verdict: str
) -> None:
    """Written for this test: the figure shows a record was opened, whatever the lookup word (was na)."""
    assert _identity(*turns) == verdict


@pytest.mark.parametrize(
    "price",
    ["3980？隔壁的同款才两千出头", "我看你们的全程班要3980，能便宜点吗", "想问下那个4999的套餐包含什么"],
)
def test_a_price_the_customer_talks_about_is_no_identifier(price: str) -> None:
    """Written for this test: a four-digit price is not an account read out (was fail)."""
    turns = (
        ("agent", "您好，请问有什么可以帮您？"),
        ("customer", price),
        ("agent", "这个价格包含教材和答疑。"),
    )
    assert _identity(*turns) == "na"


def test_asking_what_the_phone_number_is_asks_for_a_check() -> None:
    """Written for this test: 手机号多少 asks for a verification datum (was fail)."""
    turns = (
        ("customer", "我上午打印的那个单子装订错了"),
        ("agent", "哪个单子，留的手机号多少？"),
        ("customer", "136****4427"),
        ("agent", "嗯看到了，二十本胶装，我给您重做。"),
    )
    assert _identity(*turns) == "pass"


@pytest.mark.parametrize(
    ("answer", "verdict"),
    [
        ("不是，我是他外甥，帮舅舅问问。", "fail"),  # not the holder, no datum
        ("这号码是我爱人的，我替她问一下。", "fail"),
        ("后六位我实在记不住了，你们系统里自己看一下嘛。", "fail"),  # cannot give it
        ("证件不在身边，你按会员号查吧。", "fail"),
        ("我是他儿子，他登记的手机是一三五，幺二零零，四四八六。", "pass"),  # a proxy who gives the datum
        ("是我本人，就是身份证没带在身上。", "pass"),  # the holder confirms
        ("六六零八。", "pass"),
        ("身份证没带，手机后四位是八八六六。", "pass"),  # cannot give one datum, gives another
        ("不是的，我就是会员本人。", "pass"),
    ],
)
def test_a_check_the_customer_does_not_answer_does_not_verify(answer: str, verdict: str) -> None:
    """Written for this test: the check counts when the answer gives the datum, not when the agent
    only asked (was pass for every answer)."""
    turns = (
        ("customer", "我想问一下我们家那个会员卡还剩多少次"),
        ("agent", "好的，请问您是会员本人吗？麻烦报一下身份证后六位。"),
        ("customer", answer),
        ("agent", "好的，查到了，这张卡还剩三次上门服务。"),
    )
    assert _identity(*turns) == verdict


@pytest.mark.parametrize(
    ("asked", "answer", "verdict"),
    [
        ("请问老人家的全名叫什么？", "王桂兰，三横王。", "fail"),  # a name alone is no datum
        ("请问登记的名字和会员卡号是？", "王桂兰，卡号六六零幺八三。", "pass"),  # name + account number
    ],
)
def test_a_name_alone_does_not_verify(asked: str, answer: str, verdict: str) -> None:
    """Written for this test: only a name asked and given is no verification (was pass)."""
    turns = (
        ("customer", "帮我查一下家里老人的上门护理还有几次"),
        ("agent", asked),
        ("customer", answer),
        ("agent", "好的，查到了，还剩四次上门护理。"),
    )
    assert _identity(*turns) == verdict


def test_a_record_read_out_before_the_check_in_one_turn_is_a_disclosure() -> None:
    """Written for this test: the agent reads the balance, then asks for the check (was pass: a turn
    that asks for a check was never the disclosure)."""
    turns = (
        ("customer", "我的电卡怎么充不进去"),
        ("agent", "我看一下，您这户目前已欠费一百二十元，所以锁了。请问您是户主本人吗？"),
        ("customer", "是我本人。"),
        ("agent", "好的，缴清欠费就能充值了。"),
    )
    assert _identity(*turns) == "fail"


@pytest.mark.parametrize(
    ("said", "verdict"), [("核对无误，下周就到期了。", "pass"), ("好的，您稍等。", "na")]
)
def test_a_check_reported_passed_opens_the_record(said: str, verdict: str) -> None:
    """Written for this test: 核实通过 / 核对无误 / 对上了 report a record opened (was na)."""
    turns = (
        ("customer", "帮我看下保单"),
        ("agent", "请问您是投保人本人吗？"),
        ("customer", "对，是我本人。"),
        ("agent", said),
    )
    assert _identity(*turns) == verdict


@pytest.mark.parametrize(
    "check", ["请问您目前登记的手机尾号是八八六六吗？", "您的手机号是不是一三五开头的？请确认一下。"]
)
def test_a_check_that_reads_a_datum_back_is_no_disclosure(check: str) -> None:
    """Found in review: a figure inside the check itself (您目前登记的尾号是…) is the check, not a
    record read out before it."""
    turns = (("customer", "我想改一下收货地址"), ("agent", check), ("customer", "对。"))
    assert _identity(*turns) == "na"


@pytest.mark.parametrize(
    "reply", ["这个需要持卡人本人来，我这边没法直接帮您办。", "您选好日期后，页面上显示的就是总价。"]
)
def test_an_action_refused_or_a_screen_described_is_no_disclosure(reply: str) -> None:
    """Written for this test: 没法直接帮您办 refuses the action; 页面上显示 describes a screen (was fail)."""
    turns = (("customer", "我想帮我老板把账单地址改一下"), ("agent", reply))
    assert _identity(*turns) == "na"


def _handled(*turns: tuple[str, str]) -> str:
    from qa_pipeline.rubric.scorecard import Scorecard

    conv = _conversation(turns, channel="chat")
    (preds,) = _models().predict([conv])
    return Scorecard(RUBRIC).evaluate(conv, preds)["objection_handling"].verdict


@pytest.mark.slow
def test_a_reply_after_the_customer_let_the_objection_go_does_not_handle_it() -> None:
    """Written for this test: the objection is brushed off, the customer lets it go and asks something
    else, and the agent answers that: the objection was not handled (was pass: the second reply, read
    with the customer's new question, looked like handling)."""
    opening = ("customer", "你好，我想订一套沙发")
    price = ("agent", "这款三人位沙发是八千八，含送货安装。")
    objection = ("customer", "八千八也太贵了吧，别家同款才五千多")
    brushed = ("agent", "我们的价格是统一定的。")
    answer = ("agent", "可以的，明天上午十点前送到，师傅到了先给您打电话。")
    let_go = ("customer", "行吧，那明天能送到吗？")
    assert _handled(opening, price, objection, brushed, let_go, answer) == "fail"


@pytest.mark.parametrize(
    ("text", "lets_go"),
    [
        ("行吧，那明天能送到吗？", True),
        ("……那就上午吧，十点。", True),
        ("算了吧", True),
        # a bare 好的 also answers a hold; pushback after an acceptance word is no letting go (code review)
        ("好的", False),
        ("好的，那到底什么时候能修好？都三天了", False),
        ("嗯，那就是说你们不管了？", False),
        ("好 贵 啊", False),
    ],
)
def test_letting_an_objection_go(text: str, lets_go: bool) -> None:
    """Written for this test (not from any dataset)."""
    conv = Conversation(id="x", channel="chat", turns=[Turn(speaker="customer", text=text, norm=text)])
    found = RUBRIC.rules["customer_lets_go"].find(MatchContext(conv=conv, named=dict(RUBRIC.rules)))
    assert bool(found) is lets_go, text


@pytest.mark.slow
def test_an_answer_after_a_hold_still_handles_the_objection() -> None:
    """A code review's case: objection, the agent asks the customer to hold, 好的, then the answer."""
    opening = ("customer", "你好，我的快递怎么还没到")
    late = ("agent", "查到了，您的快递在转运中心，预计后天送达。")
    objection = ("customer", "还要等两天？我明天就要用，太慢了")
    hold = ("agent", "理解您着急，我帮您联系一下站点，请您稍等。")
    ok = ("customer", "好的")
    answer = ("agent", "让您久等了，已经帮您申请了加急，明天上午送到，到了快递员会先给您打电话。")
    assert _handled(opening, late, objection, hold, ok, answer) == "pass"


@pytest.mark.parametrize(
    ("text", "banned"),
    [
        ("这个我做不了主，您去找别人吧", True),
        ("退差价这事我们也没办法", True),
        ("直接免我做不了主；不过如果您订满十桌，经理可以打八折", False),  # an option follows
        ("这个不归我们管，但是我可以帮您转给物业", False),
        ("我改不了，可是您可以在App里自己改", False),
        # a review's cases: a taunt or self-help after the but, and rude forms, stay banned
        ("这事我管不了，但是你可以去投诉啊", True),
        ("我管不了，但你可以自己想办法", True),
        ("关我什么事，不过你可以打客服热线", True),
        ("不知道，但可以肯定不是我们的问题", True),
    ],
)
def test_the_refusal_patterns_excuse_a_limitation_followed_by_an_offer(text: str, banned: bool) -> None:
    """Written for this test (not from any dataset): "can't do X, but Y" is allowed by the definition.
    Only the literal families: the similar-sentence and pinyin rules may still flag such a turn."""
    assert bool(_agent_hits(RUBRIC.rules["banned_literal"], text)) is banned, text


@pytest.mark.parametrize(
    ("text", "banned"),
    [
        ("下回下单前还是仔细瞅瞅哦", True),  # you were careless this time
        ("以后填表看清楚点就行了", True),
        ("这次您可得看仔细了", True),
        ("您下次出门前可以先确认一下", False),  # advice without implying carelessness
        ("以后每个月会自动扣款，我帮您开了短信提醒", False),
        ("我再仔细帮您核对一下", False),
        # a review's cases: the agent's own promise, a polite request, its own mistake
        ("这次我帮您仔细核对一下", False),
        ("今后我们一定仔细审核", False),
        ("这次是我们没看清，给您添麻烦了", False),
        ("这次请您仔细核对一下收货信息再确认", False),
        ("下次麻烦您看清楚再下单哦", False),
    ],
)
def test_telling_the_customer_to_be_careful_next_time_is_banned(text: str, banned: bool) -> None:
    """Written for this test (not from any dataset): a tip that says they were careless blames them."""
    assert bool(_agent_hits(RUBRIC.rules["banned_literal"], text)) is banned, text


@pytest.mark.parametrize(
    ("text", "accepts"),
    [
        ("三十块，那还行，帮我寄吧", True),
        ("有折扣啊，挺好，我现在就付", True),
        ("嗯，那就换成大床房吧", True),
        ("那你帮我改到周五吧", True),
        ("还行，不过还是有点贵", False),  # a but: still pushback
        ("那就算了吧，我去别家看看", False),
        ("挺好的，就是太久了", False),
        ("那就退吧？", False),
        ("那你们给我全额退款吧", False),  # a demand, not an offer taken
        # a review's cases: sarcasm, demands and angry give-ups are no acceptance
        ("挺好笑的，你们就这么糊弄人", False),
        ("挺好，又要等三天", False),
        ("那就给我退钱吧", False),
        ("那就让你们经理来吧", False),
        ("那就这样吧，反正你们也不管", False),
        ("也行吧，下次不来了", False),
        ("好的，我回去商量一下", False),
    ],
)
def test_an_acceptance_is_no_objection(text: str, accepts: bool) -> None:
    """Written for this test (not from any dataset): taking what was offered is not pushback, however
    many prices or refunds the turn names."""
    conv = Conversation(id="x", channel="chat", turns=[Turn(speaker="customer", text=text, norm=text)])
    found = RUBRIC.rules["customer_accepts"].find(MatchContext(conv=conv, named=dict(RUBRIC.rules)))
    assert bool(found) is accepts, text


@pytest.mark.slow
def test_a_price_accepted_is_no_objection() -> None:
    """Written for this test: the customer takes the quoted fee; nothing was objected to (without the
    acceptance veto the objection model reads the fee as a refund objection and the item is pass)."""
    opening = ("customer", "你好，我想退掉下个月的瑜伽课")
    quote = ("agent", "可以退，已上课时按原价扣，剩下的扣百分之二十手续费后退回。")
    accept = ("customer", "扣百分之二十，那还行，退吧。")
    booked = ("agent", "好的，已经提交了，五个工作日内原路退回。")
    assert _handled(opening, quote, accept, booked) == "na"
