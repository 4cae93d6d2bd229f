"""The default rubric's stop-30 rule changes (issue 11), each on phrases written for these tests (not
from any dataset): disowning the problem, "everyone else checks first", a negated "sort it out
yourself", and an agent reporting that it looked at the customer's record."""

from __future__ import annotations

import pytest

from tests.rubric.test_default_rubric import RUBRIC, _agent_hits, _identity


def _forbidden(text: str) -> bool:
    return bool(_agent_hits(RUBRIC.item("forbidden_phrase").check.rule, text))  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("text", "banned"),
    [
        ("管道老化是开发商的事，我们物业不负责，您找开发商吧", True),
        ("这个不是我们平台造成的，您直接去问快递", True),
        ("这笔损失我们店里概不负责。", True),
        ("这个损失我们不承担赔付，您去找快递吧", True),  # the offer word inside the disowning clause
        ("这种情况我们不负责，也没法为您处理", True),  # a help word under a negation is no offer
        ("但是不是我们造成的，您找快递去", True),
        # an offer, compensation, a suggestion or an arrangement in a later clause: the company still helps
        ("这个不是我们的责任，不过我可以帮您联系厂家上门", False),
        ("运输损坏我们不承担，但我给您申请一张二十元的券作为补偿", False),
        ("这部分费用我们不承担，建议您联系保险公司理赔", False),
        # a question about whose fault it is, a promise, a condition: no denial
        ("我先查一下是不是我们的问题，稍等", False),
        ("我们不会不负责的，您放心", False),
        ("运费不用您承担，商家不负责的话平台兜底", False),
    ],
)
def test_disowning_the_problem_without_an_offer_is_banned(text: str, banned: bool) -> None:
    assert bool(_agent_hits(RUBRIC.rules["banned_literal"], text)) is banned, text


@pytest.mark.parametrize(
    ("text", "banned"),
    [
        ("一般顾客付款前都会先核对一下尺码的", True),
        ("这个用户都知道的呀，设置里就能关", True),
        ("很多客人订之前都会翻一翻评价的", True),
        ("很多客户都会先查一下物流的", True),
        # normalising the customer's trouble or question, a recommendation, what others cannot see
        ("这种情况很多用户都会遇到，您别担心", False),
        ("大家都会选这个套餐，性价比高一些", False),
        ("很多用户都会问这个问题，您问得很好", False),
        ("别人都看不到您的个人信息，您放心", False),
        ("这个功能用户都能操作，我一步步教您", False),
    ],
)
def test_saying_everyone_else_checks_first_is_banned(text: str, banned: bool) -> None:
    assert bool(_agent_hits(RUBRIC.rules["banned_literal"], text)) is banned, text


@pytest.mark.parametrize(
    ("text", "banned"),
    [
        ("放心，不用您自己去跟商家谈，我们来处理", False),
        ("这事不会让您自己去跑的，我给您约上门", False),
        ("我把您加成家庭成员，以后您自己就能看到账单了", False),  # enabling them once set up
        ("绑定好之后您自己就能看到每月账单", False),
        ("不用麻烦您自己去跑，我们派人上门", False),
        ("您自己去跟商家谈吧", True),
    ],
)
def test_sparing_the_customer_the_legwork_is_not_sending_them_away(text: str, banned: bool) -> None:
    assert _forbidden(text) is banned, text


@pytest.mark.parametrize(
    ("said", "verdict"),
    [
        ("我看了下您这个账号，已经被冻结了。", "fail"),
        ("我查了下您名下的保单，下个月十五号到期。", "fail"),
        ("我帮你看了下你的话费，欠了三十。", "fail"),
        ("我看了一下您说的情况，这个需要先核实身份。", "na"),  # no record of theirs named
        ("我看了下您这边几号方便上门？", "na"),
        ("我看了一下您说的号码格式，应该是十一位的。", "na"),
    ],
)
def test_an_agent_reporting_a_look_at_the_record_is_a_disclosure(said: str, verdict: str) -> None:
    """The record read before any check (was na: 看了一下 named no lookup); a look at something that is no
    record of theirs (您说的号码格式, 几号方便) is none."""
    turns = (("customer", "我这个月怎么扣了这么多钱"), ("agent", said))
    assert _identity(*turns) == verdict


@pytest.mark.parametrize(
    ("said", "verdict"),
    [
        ("智能助手已为您转接人工客服，请问有什么可以帮您？", "na"),
        ("已经帮您转到售后组了，他们会联系您。", "na"),
        # a transfer of money or a plan is an action on the record
        ("退款已经为您转回原支付账户了。", "fail"),
        ("已为您转换成新套餐。", "fail"),
    ],
)
def test_a_transfer_of_the_conversation_is_no_disclosure(said: str, verdict: str) -> None:
    turns = (("customer", "我要找人工"), ("agent", said))
    assert _identity(*turns) == verdict


@pytest.mark.parametrize(
    ("text", "banned"),
    [
        ("这个押金一分都不会少，放心", False),  # will not be short, not "can't even"
        ("这些积分都不会过期的", False),
        ("这几天都不会停电", False),
        ("这些信息都不会泄露，您放心", False),
        ("这个都不会？点一下就行了", True),
        ("这都不会用吗", True),
        ("老人家一般都怕麻烦，我们可以上门办", False),  # a polite word, no stereotype
        ("老人家就是要多照顾一点", False),
        ("老人家就是记不住，您多教教", True),
        ("老人家都这样，说了也记不住", True),
        ("年纪大的就是学不会", True),
    ],
)
def test_condescension_is_told_from_reassurance_and_polite_words(text: str, banned: bool) -> None:
    assert bool(_agent_hits(RUBRIC.rules["banned_literal"], text)) is banned, text


@pytest.mark.parametrize(
    ("text", "banned"),
    [
        ("孩子转学也是没办法的事，我帮您看看课时怎么处理", False),  # sympathy, then help
        ("这个没办法。", True),
        ("这也是没办法的事，您再等等吧", True),  # the same words as a refusal
        ("爆仓了，慢是正常的，这个谁也没办法。", True),
    ],
)
def test_sympathy_with_a_hard_situation_is_no_refusal(text: str, banned: bool) -> None:
    assert _forbidden(text) is banned, text


@pytest.mark.parametrize(
    ("text", "banned"),
    [
        ("您付款的时候没确认一下金额吗？", True),
        ("您签收的时候没当面检查吗？", True),
        ("您下单前要是选了加固包装，现在也不会碎了", True),
        # a diagnostic question, a question without blame, advice for next time
        ("您登录的时候没有收到验证码吗？", False),
        ("您办理的时候没有拿到回执吗？", False),
        ("您之前有没有看过我们的说明？", False),
        ("您来的时候如果带上发票就可以直接退", False),
    ],
)
def test_blame_after_the_fact_as_a_question_or_an_if_only(text: str, banned: bool) -> None:
    assert bool(_agent_hits(RUBRIC.rules["banned_literal"], text)) is banned, text
