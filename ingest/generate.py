"""Seeded generator of realistic SES Mail Manager exports, streamed to disk.

One generator serves the bundled sample export (`fixtures/`), the tests and the benchmarks. It
writes raw bytes assembled from populations computed once per run (people, hosts, vocabularies,
paragraphs, attachment payloads) instead of building messages with the `email` package, and it keeps
only a small ring of recent messages (for threads) in memory, so a million messages stream in
minutes.

The layout mimics `aws s3 sync` of an export (SEMANTICS §1): `<dest>/<yyyy>/<mm>/<id>.eml` where the
folder is the message's UTC receive month, with metadata JSON beside most messages in every accepted
name and content form. Output depends only on (count, seed, mix, start): one `random.Random(seed)`
drives every choice, payload pools use their own seeded streams, and nothing reads the clock except
the report's `seconds`.

    python -m ingest.generate DEST --count N --seed S --mix small
"""

from __future__ import annotations

import argparse
import base64
import binascii
import bisect
import html
import json
import os
import random
import sys
import textwrap
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

MIXES = ("default", "small")

DEFAULT_START = datetime(2024, 1, 1, tzinfo=UTC)
SPAN_MS = 365 * 86_400_000  # messages spread over about a year
PROGRESS_EVERY = 1000


@dataclass(frozen=True)
class GenerateReport:
    """What one `generate_export` run wrote."""

    messages: int
    metadata_files: int
    bytes_written: int
    seconds: float


# --------------------------------------------------------------------------------------------------
# Vocabulary. Names are (native, ASCII) pairs; the ASCII form builds the address's local part.


@dataclass(frozen=True)
class _Locale:
    code: str
    weight: float
    first: tuple[tuple[str, str], ...]  # (native, ASCII)
    last: tuple[tuple[str, str], ...]
    family_first: bool  # CJK order: family name first, often without a space
    zones: tuple[tuple[int, str, int, str], ...]  # (std minutes, abbr, summer minutes, abbr)
    # RFC 2047 (charset label, "B" or "Q") that this locale's clients use in headers
    ew_charsets: tuple[tuple[str, str], ...]
    body_charsets: tuple[str, ...]  # legacy charsets for bodies besides UTF-8
    subjects: tuple[str, ...]  # templates: {n} number, {topic}, {y} year, {q} quarter
    topics: tuple[str, ...]
    sentences: tuple[str, ...]
    greeting: str  # {first}
    closing: str
    wrote: str  # {date} {name}
    joiner: str  # between sentences


def _pairs(text: str) -> tuple[tuple[str, str], ...]:
    """ "Jürgen=juergen Jörg=joerg" -> (("Jürgen", "juergen"), ("Jörg", "joerg"))."""
    return tuple((a, b) for a, _, b in (item.partition("=") for item in text.split()))


_LATIN_EW = (("UTF-8", "Q"), ("utf-8", "B"), ("ISO-8859-1", "Q"), ("windows-1252", "Q"))

_LOCALES: tuple[_Locale, ...] = (
    _Locale(
        "en",
        5.0,
        _pairs(
            "James=james Mary=mary Robert=robert Patricia=patricia John=john "
            "Jennifer=jennifer Michael=michael Linda=linda David=david Elizabeth=elizabeth "
            "Sarah=sarah Thomas=thomas Emily=emily Daniel=daniel Olivia=olivia Renée=renee"
        ),
        _pairs(
            "Smith=smith Johnson=johnson Williams=williams Brown=brown Jones=jones "
            "O'Brien=obrien Miller=miller Davis=davis Wilson=wilson Taylor=taylor Clark=clark "
            "Walker=walker Young=young King=king Wright=wright"
        ),
        False,
        (
            (-300, "EST", -240, "EDT"),
            (-480, "PST", -420, "PDT"),
            (0, "GMT", 60, "BST"),
            (600, "AEST", 600, "AEST"),
        ),
        (("UTF-8", "Q"), ("utf-8", "B"), ("windows-1252", "Q"), ("windows-1252", "B")),
        ("windows-1252",),
        (
            "Invoice {n}",
            "Meeting notes: {topic}",
            "Quarterly report Q{q} {y}",
            "Your order #{n} has shipped",
            "Updated ﬁle for review",
            "Question about the {topic}",
            "{topic}: next steps",
            "Reminder: {topic} deadline",
            "Trip to İstanbul next week",
            "Lunch on Friday?",
            "Contract draft v{n}",
            "Welcome to the team!",
            "Weekly newsletter #{n}",
            "Rescheduling our call",
            "Action required: {topic}",
            "Budget “{topic}” approval",
            "Price list {y} – €{n}",
            "Café order {n}",
            "Notes from the Straße meeting",
        ),
        (
            "budget",
            "hiring plan",
            "migration",
            "security review",
            "roadmap",
            "onboarding",
            "travel expenses",
            "customer feedback",
            "release {n}",
            "data retention",
        ),
        (
            "Thanks for sending this over so quickly.",
            "I had a look at the numbers and they seem fine to me.",
            "Could you please check the attached figures before Thursday?",
            "We agreed to move the deadline by one week.",
            "Let me know if anything is unclear or if you need more details.",
            "The customer asked whether we can deliver in two batches.",
            "I will be out of the office on Monday, so please reach out to Linda.",
            "The new version fixes the problem with the export.",
            "Our team in İstanbul will join the call as well.",
            "The ﬁnal report is in the shared folder.",
            "Please review the draft and add your comments inline.",
            "We still need a signature from legal before we can proceed.",
        ),
        "Hi {first},",
        "Best regards,",
        "On {date}, {name} wrote:",
        " ",
    ),
    _Locale(
        "de",
        2.5,
        _pairs(
            "Jürgen=juergen Jörg=joerg Günther=guenther Björn=bjoern Uwe=uwe Sabine=sabine "
            "Ursula=ursula Käthe=kaethe Hans=hans Claudia=claudia Lena=lena "
            "Maximilian=maximilian Sören=soeren Anja=anja"
        ),
        _pairs(
            "Müller=mueller Schröder=schroeder Weiß=weiss Groß=gross Köhler=koehler "
            "Schäfer=schaefer Becker=becker Hoffmann=hoffmann Krüger=krueger Fußmann=fussmann "
            "Lößner=loessner Wagner=wagner"
        ),
        False,
        ((60, "CET", 120, "CEST"),),
        _LATIN_EW,
        ("iso-8859-1", "iso-8859-15"),
        (
            "Rechnung Nr. {n}",
            "Besprechung am Donnerstag",
            "Angebot für {topic}",
            "Straßensperrung in der Hauptstraße",
            "Grüße aus München",
            "Änderungen am Vertrag {n}",
            "Protokoll: {topic}",
            "Maße für die Küche",
            "Bestellung {n} – Lieferverzögerung",
            "Urlaubsübergabe {y}",
            "Frage zur Straße {n}",
        ),
        (
            "Büroumzug",
            "Jahresabschluss {y}",
            "Gehaltsabrechnung",
            "Überstunden",
            "Fahrtkosten",
            "Schulung",
            "Datenschutz",
        ),
        (
            "Vielen Dank für die schnelle Rückmeldung.",
            "Ich habe die Unterlagen geprüft und alles sieht gut aus.",
            "Könnten Sie mir bitte bis Freitag die aktualisierten Maße schicken?",
            "Die Lieferung in die Goethestraße verzögert sich leider um zwei Tage.",
            "Wir treffen uns um 14 Uhr im großen Besprechungsraum.",
            "Für Rückfragen stehe ich Ihnen gerne zur Verfügung.",
            "Die Änderungen sind im Dokument gelb markiert.",
            "Bitte beachten Sie die geänderten Öffnungszeiten über die Feiertage.",
            "Das Angebot ist bis Ende des Monats gültig.",
            "Anbei finden Sie die Übersicht für das erste Quartal.",
        ),
        "Hallo {first},",
        "Viele Grüße",
        "Am {date} schrieb {name}:",
        " ",
    ),
    _Locale(
        "fr",
        1.2,
        _pairs(
            "François=francois Hélène=helene Amélie=amelie Jérôme=jerome Zoé=zoe "
            "Céline=celine Noël=noel Gaëlle=gaelle Loïc=loic Inès=ines"
        ),
        _pairs(
            "Lefèvre=lefevre Dubois=dubois Bérard=berard Moreau=moreau Girard=girard "
            "Lemaître=lemaitre Rousseau=rousseau Faure=faure Châtelet=chatelet"
        ),
        False,
        ((60, "CET", 120, "CEST"),),
        _LATIN_EW,
        ("iso-8859-1", "iso-8859-15"),
        (
            "Facture n° {n}",
            "Réunion de jeudi",
            "Compte rendu : {topic}",
            "Votre commande {n} a été expédiée",
            "Congés d'été {y}",
            "Œuvre d'art : devis {n}",
            "Question à propos du {topic}",
        ),
        ("budget prévisionnel", "déménagement", "sécurité", "recrutement", "contrat {n}"),
        (
            "Merci pour votre retour rapide.",
            "Je vous envoie ci-joint le document révisé.",
            "Pourriez-vous confirmer la date de livraison ?",
            "La réunion est déplacée à mercredi après-midi.",
            "Nous avons bien reçu votre paiement, merci.",
            "Je reste à votre disposition pour toute question.",
            "Le devis inclut l'installation et la maintenance.",
            "Voici le résumé des décisions prises hier.",
        ),
        "Bonjour {first},",
        "Cordialement,",
        "Le {date}, {name} a écrit :",
        " ",
    ),
    _Locale(
        "es",
        1.0,
        _pairs(
            "José=jose María=maria Íñigo=inigo Begoña=begona Ramón=ramon Lucía=lucia "
            "Martín=martin Sofía=sofia Andrés=andres Nuria=nuria"
        ),
        _pairs(
            "Núñez=nunez García=garcia Fernández=fernandez Peña=pena Martínez=martinez "
            "Ibáñez=ibanez Álvarez=alvarez Muñoz=munoz"
        ),
        False,
        ((60, "CET", 120, "CEST"), (-360, "CST", -360, "CST")),
        _LATIN_EW,
        ("iso-8859-1",),
        (
            "Factura {n}",
            "Reunión del jueves",
            "Presupuesto para {topic}",
            "¿Quedamos mañana?",
            "Año nuevo, objetivos nuevos",
            "Pedido {n} enviado",
        ),
        ("la campaña", "el almacén", "la auditoría", "el envío {n}"),
        (
            "Gracias por la información.",
            "Te adjunto el presupuesto actualizado.",
            "¿Podrías revisar las cifras antes del viernes?",
            "El pedido saldrá del almacén mañana por la mañana.",
            "Quedo a la espera de tus comentarios.",
            "La reunión será en la sala pequeña del segundo piso.",
        ),
        "Hola {first}:",
        "Un saludo,",
        "El {date}, {name} escribió:",
        " ",
    ),
    _Locale(
        "tr",
        0.8,
        _pairs(
            "İsmail=ismail Ayşe=ayse Çağrı=cagri Gülşen=gulsen Işıl=isil Oğuz=oguz Şule=sule "
            "Ümit=umit Emre=emre İpek=ipek"
        ),
        _pairs(
            "Yıldız=yildiz Öztürk=ozturk Çelik=celik Şahin=sahin Doğan=dogan Aydın=aydin "
            "Kılıç=kilic Işık=isik"
        ),
        False,
        ((180, "+03", 180, "+03"),),
        (("UTF-8", "B"), ("utf-8", "Q"), ("ISO-8859-9", "Q")),
        ("iso-8859-9",),
        (
            "Fatura {n}",
            "İstanbul toplantısı",
            "Perşembe günü toplantı",
            "Sipariş {n} hakkında",
            "Işık ayarları",
            "Ödeme hatırlatması",
            "İZMİR ofisi: {topic}",
        ),
        ("bütçe", "işe alım", "güvenlik", "teslimat {n}"),
        (
            "Hızlı dönüşünüz için teşekkürler.",
            "Ekteki belgeyi inceleyebilir misiniz?",
            "Toplantı İstanbul ofisinde yapılacak.",
            "Ödeme bu hafta içinde gerçekleşecek.",
            "Sorularınız için her zaman ulaşabilirsiniz.",
        ),
        "Merhaba {first},",
        "Saygılarımla,",
        "{date} tarihinde {name} şunu yazdı:",
        " ",
    ),
    _Locale(
        "el",
        0.6,
        _pairs(
            "Γιώργος=giorgos Μαρία=maria Νίκος=nikos Ελένη=eleni Δημήτρης=dimitris "
            "Κατερίνα=katerina Σωκράτης=sokratis Άννα=anna"
        ),
        _pairs(
            "Παπαδόπουλος=papadopoulos Οικονόμου=oikonomou Γεωργίου=georgiou "
            "Νικολάου=nikolaou Σισυφίδης=sisyfidis"
        ),
        False,
        ((120, "EET", 180, "EEST"),),
        (("UTF-8", "B"), ("utf-8", "Q"), ("ISO-8859-7", "B")),
        ("iso-8859-7",),
        (
            "Τιμολόγιο {n}",
            "Έργο ΣΊΣΥΦΟΣ: επόμενα βήματα",
            "Συνάντηση την Πέμπτη",
            "Προσφορά για {topic}",
            "ΟΔΥΣΣΕΑΣ {n}",
        ),
        ("τον προϋπολογισμό", "την ασφάλεια", "το έργο ΣΊΣΥΦΟΣ"),
        (
            "Ευχαριστώ για την άμεση απάντηση.",
            "Σας στέλνω συνημμένα το αναθεωρημένο έγγραφο.",
            "Η συνάντηση μεταφέρεται για την Τετάρτη.",
            "Το έργο ΣΊΣΥΦΟΣ προχωρά κανονικά.",
            "Παρακαλώ επιβεβαιώστε την ημερομηνία παράδοσης.",
        ),
        "Γεια σου {first},",
        "Με εκτίμηση,",
        "Στις {date}, ο/η {name} έγραψε:",
        " ",
    ),
    _Locale(
        "ru",
        0.8,
        _pairs(
            "Дмитрий=dmitry Анна=anna Сергей=sergey Ольга=olga Алексей=alexey Наталья=natalia "
            "Юрий=yuri Татьяна=tatiana Михаил=mikhail Екатерина=ekaterina"
        ),
        _pairs(
            "Иванов=ivanov Смирнов=smirnov Кузнецов=kuznetsov Попов=popov Соколов=sokolov "
            "Лебедев=lebedev Козлов=kozlov"
        ),
        False,
        ((180, "MSK", 180, "MSK"),),
        (("KOI8-R", "B"), ("koi8-r", "Q"), ("UTF-8", "B"), ("windows-1251", "B")),
        ("koi8-r", "windows-1251"),
        (
            "Счёт № {n}",
            "Встреча в четверг",
            "Отчёт за {y} год",
            "Договор поставки {n}",
            "Ёлка в офисе",
            "Вопрос по {topic}",
        ),
        ("бюджету", "поставке {n}", "безопасности", "отпуску"),
        (
            "Спасибо за быстрый ответ.",
            "Во вложении обновлённый договор.",
            "Встреча переносится на среду.",
            "Пожалуйста, подтвердите дату поставки.",
            "Если будут вопросы, пишите.",
            "Счёт оплачен сегодня утром.",
        ),
        "Здравствуйте, {first}!",
        "С уважением,",
        "{date}, {name} пишет:",
        " ",
    ),
    _Locale(
        "ja",
        0.8,
        _pairs(
            "太郎=taro 花子=hanako 翔太=shota 美咲=misaki "
            "健一=kenichi 由美=yumi 大輔=daisuke さくら=sakura"
        ),
        _pairs(
            "山田=yamada 佐藤=sato 鈴木=suzuki 高橋=takahashi 田中=tanaka 渡辺=watanabe 伊藤=ito"
        ),
        True,
        ((540, "JST", 540, "JST"),),
        (("ISO-2022-JP", "B"), ("iso-2022-jp", "B"), ("Shift_JIS", "B"), ("UTF-8", "B")),
        ("iso-2022-jp", "shift_jis"),
        (
            "請求書 {n} の送付",
            "木曜日の会議について",
            "見積もりのご依頼",
            "出張報告（大阪）",
            "【重要】パスワード変更のお願い",
            "ｶﾀｶﾅ半角 {n}",
            "{topic}の件",
        ),
        ("予算", "採用計画", "システム移行", "契約 {n}"),
        (
            "いつもお世話になっております。",
            "資料を添付いたしましたので、ご確認ください。",
            "会議は水曜日の午後に変更になりました。",
            "ご不明な点がございましたら、お気軽にお問い合わせください。",
            "納期について改めてご連絡いたします。",
            "よろしくお願いいたします。",
        ),
        "{first}様",
        "よろしくお願いいたします。",
        "{date} {name} のメッセージ:",
        "",
    ),
    _Locale(
        "zh",
        0.6,
        (("伟", "wei"), ("娜", "na"), ("敏", "min"), ("洋", "yang"), ("静", "jing"), ("磊", "lei")),
        _pairs("王=wang 李=li 张=zhang 刘=liu 陈=chen 杨=yang"),
        True,
        ((480, "CST", 480, "CST"),),
        (("UTF-8", "B"), ("GB2312", "B"), ("gbk", "B")),
        ("gb2312",),
        ("发票 {n}", "会议纪要：{topic}", "关于{topic}的问题", "周四的会议"),
        ("预算", "招聘计划", "安全审查", "合同 {n}"),
        (
            "感谢您的快速回复。",
            "附件是更新后的文件，请查收。",
            "会议改到星期三下午。",
            "如有任何问题，请随时联系我。",
            "货物将于明天发出。",
        ),
        "{first}，你好：",
        "此致",
        "{date}，{name} 写道：",
        "",
    ),
    _Locale(
        "ko",
        0.4,
        (("민준", "minjun"), ("서연", "seoyeon"), ("지훈", "jihun"), ("수빈", "subin")),
        (("김", "kim"), ("이", "lee"), ("박", "park"), ("최", "choi"), ("정", "jung")),
        True,
        ((540, "KST", 540, "KST"),),
        (("UTF-8", "B"), ("EUC-KR", "B")),
        ("euc-kr",),
        ("송장 {n}", "회의 일정 안내", "{topic} 관련 문의"),
        ("예산", "채용", "보안 점검"),
        (
            "빠른 회신 감사합니다.",
            "첨부 파일을 확인해 주세요.",
            "회의는 수요일 오후로 변경되었습니다.",
            "궁금한 점이 있으면 연락 주세요.",
        ),
        "{first}님, 안녕하세요.",
        "감사합니다.",
        "{date}, {name} 작성:",
        " ",
    ),
    _Locale(
        "nordic",
        0.7,
        _pairs(
            "Åse=ase Øyvind=oyvind Bjørn=bjorn Ingrid=ingrid Sigrún=sigrun Þórður=thordur "
            "Lærke=laerke Åsa=asa"
        ),
        _pairs(
            "Øvergård=overgard Ångström=angstrom Håkansson=hakansson Lindqvist=lindqvist "
            "Sæther=saether Jóhannsdóttir=johannsdottir Nørgaard=norgaard"
        ),
        False,
        ((60, "CET", 120, "CEST"), (0, "GMT", 0, "GMT")),
        _LATIN_EW,
        ("iso-8859-1",),
        ("Faktura {n}", "Møte på torsdag", "Årsrapport {y}", "Påminnelse: {topic}"),
        ("budsjett", "sikkerhet", "leveranse {n}"),
        (
            "Takk for raskt svar.",
            "Vedlagt finner du den oppdaterte rapporten.",
            "Møtet er flyttet til onsdag.",
            "Gi beskjed hvis noe er uklart.",
        ),
        "Hei {first},",
        "Med vennlig hilsen",
        "{date} skrev {name}:",
        " ",
    ),
)

_ORG_DOMAINS = ("example.com", "eu.example.com", "jp.example.com")
_EXTERNAL_DOMAINS = (
    "northwind.example",
    "contoso.example",
    "fabrikam.example",
    "tailspin.example",
    "adventure-works.example",
    "mueller-bau.example",
    "boulangerie-dupont.example",
    "yildiz-lojistik.example",
    "olympus-shipping.example",
    "sibir-trade.example",
    "sakura-denki.example",
    "longwei.example",
    "hanbit.example",
    "fjord-fisk.example",
    "mail.example.org",
    "mailbox.example.net",
    "student.uni.example",
    "gov.example",
    "shop.example",
    "news.example.net",
)
_FREEMAIL = ("mailbox.example.net", "mail.example.org")
_ROLE_NAMES = (
    ("sales", "Sales Team"),
    ("support", "Customer Support"),
    ("billing", "Billing"),
    ("info", ""),
    ("hr", "Human Resources"),
    ("team-berlin", "Team Berlin"),
    ("it-helpdesk", "IT Helpdesk"),
)
_NEWSLETTERS = (
    ("newsletter", "news.example.net", "Weekly Digest"),
    ("no-reply", "shop.example", "Shop – Order Updates"),
    ("notifications", "tailspin.example", "Tailspin Notifications"),
    ("info", "fabrikam.example", "Fabrikam, Inc."),
)
_REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-northeast-1")
_ACCOUNT = "123456789012"
_TLS = (
    ("TLSv1.3", "TLS_AES_256_GCM_SHA384"),
    ("TLSv1.3", "TLS_AES_128_GCM_SHA256"),
    ("TLSv1.3", "TLS_CHACHA20_POLY1305_SHA256"),
    ("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256"),
    ("TLSv1.2", "ECDHE-RSA-AES256-GCM-SHA384"),
)
_SENDING_METHODS = ("SendEmail", "SendRawEmail", "SendBulkEmail", "SMTP")

# (X-Mailer or "", boundary style, message-id style, prefers quoted-printable, header order)
_ORDER_A = ("From", "To", "Cc", "Subject", "Date", "Message-ID", "In-Reply-To", "References")
_ORDER_B = (
    "MIME-Version", "Date", "Message-ID", "In-Reply-To", "References",
    "Subject", "From", "To", "Cc",
)  # fmt: skip
_CLIENTS: tuple[tuple[str, str, str, bool, tuple[str, ...]], ...] = (
    ("Microsoft Outlook 16.0", "outlook", "outlook", True, _ORDER_A),
    ("", "gmail", "gmail", True, _ORDER_B),
    ("Apple Mail (2.3774.300.61.1.2)", "apple", "hex", True, _ORDER_A),
    ("iPhone Mail (21C66)", "apple", "hex", True, _ORDER_A),
    ("", "thunderbird", "hex", False, _ORDER_B),
    ("PHPMailer 6.9.1 (https://github.com/PHPMailer/PHPMailer)", "php", "hex", True, _ORDER_A),
    ("Zimbra 10.0.6_GA_4576 (ZimbraWebClient - FF121 (Linux)/10.0.6_GA_4576)", "java", "hex", True,
     _ORDER_A),
    ("Lotus Notes Release 9.0.1FP10 SHF68 March 10, 2018", "outlook", "hex", False, _ORDER_A),
    ("", "python", "hex", False, _ORDER_B),
    ("", "java", "ses", True, _ORDER_B),
)  # fmt: skip
_CLIENT_WEIGHTS = (22, 25, 8, 8, 8, 4, 4, 2, 5, 14)
_X_PRIORITIES = ("1 (Highest)", "2 (High)", "3 (Normal)", "5 (Lowest)", "1")

_DATE_STYLE_CUM = (60, 75, 80, 95)  # styles 0..4 of _rfc5322_date: 60, 15, 5, 15, 5 percent
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_OBSOLETE_ZONES = {0: "GMT", -300: "EST", -240: "EDT", -480: "PST", -420: "PDT"}

_REPLY_PREFIXES = ("Re: ", "Re: ", "Re: ", "RE: ", "AW: ", "Re: Re: ", "SV: ")
_FORWARD_PREFIXES = ("Fwd: ", "Fw: ", "WG: ", "TR: ", "FW: ")

# File names whose stems are not valid ids (SEMANTICS §1 hash-id fallback). {i} keeps them unique.
_INVALID_STEMS = (
    "Rechnung März {i}",
    "{long}",  # valid characters, but longer than 128
    "メール {i}",
    "{valid} (1)",
    "message#{i}",
    "İstanbul trip {i}",
    "ΣΊΣΥΦΟΣ-{i}",
    "Fwd Invoice {i}",
)
# Fixed positions (not random draws) so that even a small export holds a couple of each oddity.
INVALID_NAME_EVERY = 97  # about 1 % of the files have a name that is not a valid id
UPPER_EXT_EVERY = 89  # about 1 % are named <id>.EML


_ATTACHMENT_NAMES: dict[str, tuple[str, ...]] = {
    "application/pdf": (
        "invoice-{n}.pdf",
        "Rechnung März {n}.pdf",
        "Angebot_Straße_{n}.pdf",
        "見積書_{n}.pdf",
        "Ελληνικά έγγραφα {n}.pdf",
        "contract_v{n}.pdf",
        "İstanbul ziyareti {n}.pdf",
        "Protokoll der Sitzung vom Donnerstag mit allen Änderungen {n}.pdf",
    ),
    "image/png": ("scan{n}.png", "screenshot {n}.png", "Grundriss_Küche_{n}.png", "図_{n}.png"),
    "text/csv": ("report-{n}.csv", "отчёт_{n}.csv", "Umsätze_{n}.csv", "export ﬁle {n}.csv"),
}

# Pasted into the text of a few messages: MIME header lines inside a body are not attachments
# (ENGINE-FACTS: a regex over the body is fooled by them; only real part headers count).
_PASTED_HEADERS = (
    "The gateway rejected the message with these part headers:\r\n"
    "\r\n"
    'Content-Type: application/pdf; name="statement.pdf"\r\n'
    'Content-Disposition: attachment; filename="statement.pdf"\r\n'
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "Can you check the mail server settings?"
)


# --------------------------------------------------------------------------------------------------
# Small encoders


def _zone_text(off_min: int) -> str:
    sign = "+" if off_min >= 0 else "-"
    a = abs(off_min)
    return f"{sign}{a // 60:02d}{a % 60:02d}"


def _rfc5322_date(ts: int, off_min: int, style: int, abbr: str) -> str:
    """Date-time of RFC 5322 in a few real-world spellings (style 0..4)."""
    t = time.gmtime(ts + off_min * 60)
    clock = f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
    mon = _MONTHS[t.tm_mon - 1]
    zone = _zone_text(off_min)
    if style == 1:  # unpadded day
        return f"{_DAYS[t.tm_wday]}, {t.tm_mday} {mon} {t.tm_year} {clock} {zone}"
    if style == 2:  # no day of week
        return f"{t.tm_mday:02d} {mon} {t.tm_year} {clock} {zone}"
    if style == 3:  # zone comment
        return f"{_DAYS[t.tm_wday]}, {t.tm_mday} {mon} {t.tm_year} {clock} {zone} ({abbr})"
    if style == 4 and off_min in _OBSOLETE_ZONES:  # obsolete named zone
        named = _OBSOLETE_ZONES[off_min]
        return f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {mon} {t.tm_year} {clock} {named}"
    return f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {mon} {t.tm_year} {clock} {zone}"


def _iso(ms: int, off_min: int, with_ms: bool, zone: str) -> str:
    """ISO 8601; zone is "Z", "+00:00", "" (naive, read as UTC) or "offset" (off_min applied)."""
    shift = off_min * 60_000 if zone == "offset" else 0
    t = time.gmtime((ms + shift) // 1000)
    text = (
        f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{t.tm_hour:02d}:{t.tm_min:02d}:"
        f"{t.tm_sec:02d}"
    )
    if with_ms:
        text += f".{ms % 1000:03d}"
    if zone == "offset":
        sign = "+" if off_min >= 0 else "-"
        a = abs(off_min)
        return f"{text}{sign}{a // 60:02d}:{a % 60:02d}"
    return text + zone


_Q_SAFE = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/"
# Q-encoding of every byte: safe characters as themselves, space as "_", the rest as =XX.
_Q_TABLE = tuple(
    "_" if b == 0x20 else (chr(b) if b in _Q_SAFE else f"={b:02X}") for b in range(256)
)


def _q_char(data: bytes) -> str:
    return "".join([_Q_TABLE[b] for b in data])


def _encode_words(text: str, charset: str, enc: str) -> list[str] | None:
    """RFC 2047 encoded-words (each at most 75 characters) for text, or None if not encodable.

    Every word is encoded on its own (stateful ISO-2022-JP included), split on character boundaries.
    """
    try:
        text.encode(charset)
    except (UnicodeEncodeError, LookupError):
        return None
    prefix = f"=?{charset}?{enc}?"
    room = 75 - len(prefix) - 2
    words: list[str] = []
    if charset.lower().startswith("iso-2022"):  # stateful: measure each candidate word whole
        chunk = ""
        for ch in text:
            candidate = chunk + ch
            if 4 * ((len(candidate.encode(charset)) + 2) // 3) > room and chunk:
                words.append(chunk)
                chunk = ch
            else:
                chunk = candidate
        words.append(chunk)
    else:
        start = 0
        size = 0
        for k, ch in enumerate(text):
            data = ch.encode(charset)
            size += len(_q_char(data)) if enc == "Q" else len(data)
            fits = size <= room if enc == "Q" else 4 * ((size + 2) // 3) <= room
            if not fits and k > start:
                words.append(text[start:k])
                start = k
                size = len(_q_char(data)) if enc == "Q" else len(data)
        words.append(text[start:])
    result = []
    for w in words:
        data = w.encode(charset)
        payload = _q_char(data) if enc == "Q" else base64.b64encode(data).decode("ascii")
        result.append(f"{prefix}{payload}?=")
    return result


def _fold(name: str, tokens: Sequence[bytes], sep: bytes) -> bytes:
    """One header field, folded before whitespace so that lines stay near 76 columns.

    sep is b", " for address lists (the fold goes after the comma) or b" " for words.
    """
    line = name.encode("ascii") + b": " + tokens[0]
    out = [line]
    width = len(line)
    head = sep.rstrip(b" ")
    for tok in tokens[1:]:
        if width + len(sep) + len(tok) > 76:
            out.append(head + b"\r\n " + tok)
            width = 1 + len(tok)
        else:
            out.append(sep + tok)
            width += len(sep) + len(tok)
    out.append(b"\r\n")
    return b"".join(out)


_SPECIALS = frozenset('()<>[]:;@\\,."')


def _quote_phrase(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _b64_lines(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


# --------------------------------------------------------------------------------------------------
# Populations


@dataclass(frozen=True, slots=True)
class _Host:
    name: str
    ip: str


@dataclass(slots=True, eq=False)  # people compare by identity
class _Person:
    addr: str
    first: str  # for greetings; "" for role accounts
    name: str  # display name, "" when none
    locale: _Locale
    zone: tuple[int, str, int, str]
    mailbox: bytes  # rendered for headers
    client: int
    host: _Host
    members: tuple[str, ...] = ()  # an alias expands to these envelope recipients


class _Zipf:
    """Zipf-like pick from a fixed list (rank k has weight 1 / (k + 1) ** s)."""

    def __init__(self, items: list[_Person], s: float) -> None:
        self.items = items
        total = 0.0
        cum = []
        for k in range(len(items)):
            total += 1.0 / (k + 1) ** s
            cum.append(total)
        self.cum = cum
        self.total = total

    def pick(self, rng: random.Random) -> _Person:
        return self.items[bisect.bisect_right(self.cum, rng.random() * self.total)]


def _ip(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.12:
        return f"2001:db8:{rng.getrandbits(16):x}::{rng.getrandbits(16):x}"
    net = ("192.0.2", "198.51.100", "203.0.113")[rng.randrange(3)]
    return f"{net}.{rng.randrange(1, 255)}"


def _private_ip(rng: random.Random) -> str:
    return f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


class _Population:
    """People, hosts and text pools, computed once per run from the seed."""

    def __init__(self, rng: random.Random) -> None:
        self.locale_cum: list[float] = []
        acc = 0.0
        for loc in _LOCALES:
            acc += loc.weight
            self.locale_cum.append(acc)
        self.hosts: dict[str, list[_Host]] = {}
        for dom in (*_EXTERNAL_DOMAINS, *_ORG_DOMAINS):
            self.hosts[dom] = self._make_hosts(rng, dom)
        used: set[str] = set()
        internal = [self._make_person(rng, rng.choice(_ORG_DOMAINS), used) for _ in range(700)]
        external = [
            self._make_person(rng, rng.choice(_EXTERNAL_DOMAINS), used) for _ in range(3000)
        ]
        roles = []
        for local, display in _ROLE_NAMES:
            members = tuple(p.addr for p in rng.sample(internal, rng.randint(2, 5)))
            role = self._role(rng, f"{local}@{_ORG_DOMAINS[0]}", display, members)
            roles.append(role)
        bulk = [self._role(rng, f"{loc}@{dom}", disp, ()) for loc, dom, disp in _NEWSLETTERS]
        for p in bulk:
            p.client = len(_CLIENTS) - 1  # bulk mail goes out through SES
        rng.shuffle(internal)
        rng.shuffle(external)
        # Role accounts and newsletters sit near the head of the Zipf curves.
        internal[3:3] = roles
        external[1:1] = bulk[:2]
        external[6:6] = bulk[2:]
        self.internal = _Zipf(internal, 0.85)
        self.external = _Zipf(external, 0.9)
        self.paragraphs = {loc.code: self._paragraphs(rng, loc) for loc in _LOCALES}

    def locale(self, rng: random.Random) -> _Locale:
        x = rng.random() * self.locale_cum[-1]
        return _LOCALES[bisect.bisect_right(self.locale_cum, x)]

    @staticmethod
    def _make_hosts(rng: random.Random, dom: str) -> list[_Host]:
        style = rng.randrange(4)
        hosts = []
        for k in range(rng.randint(1, 3)):
            if style == 0:
                name = f"mx{k + 1}.{dom}"
            elif style == 1:
                name = (
                    f"mail-{rng.choice('abcdefgh')}{rng.choice('dejw')}1-f{rng.randrange(10, 99)}"
                )
                name += ".mailhost.example.net"
            elif style == 2:
                name = f"a{rng.randrange(1, 99)}-{rng.randrange(1, 250)}.smtp-out.amazonses.com"
            else:
                code = f"{rng.choice(('EUR', 'NAM', 'APC'))}{rng.randrange(1, 9):02d}"
                name = f"{code}-{rng.choice(('AM6', 'DB8', 'BN3'))}-obe.outbound.protection.example"
            hosts.append(_Host(name, _ip(rng)))
        return hosts

    def _make_person(self, rng: random.Random, dom: str, used: set[str]) -> _Person:
        loc = self.locale(rng)
        first, first_a = rng.choice(loc.first)
        last, last_a = rng.choice(loc.last)
        style = rng.randrange(6)
        if style == 0:
            local = f"{first_a[0]}.{last_a}"
        elif style == 1:
            local = f"{first_a}{last_a}"
        elif style == 2:
            local = f"{last_a}.{first_a}"
        elif style == 3:
            local = f"{first_a}_{last_a}"
        else:
            local = f"{first_a}.{last_a}"
        if dom in _FREEMAIL and rng.random() < 0.5:
            local += str(rng.randrange(1, 99))
        base = local
        k = 2
        while f"{local}@{dom}" in used:
            local = f"{base}{k}"
            k += 1
        addr = f"{local}@{dom}"
        used.add(addr)
        if loc.family_first:
            name = last + first if rng.random() < 0.5 else f"{last} {first}"
        elif rng.random() < 0.12:
            name = f"{last}, {first}"  # needs quoting
        elif loc.code == "de" and rng.random() < 0.1:
            name = f"Dr. {first} {last}"
        else:
            name = f"{first} {last}"
        if rng.random() < 0.07:
            name = ""
        client = rng.choices(range(len(_CLIENTS)), weights=_CLIENT_WEIGHTS)[0]
        return _Person(
            addr,
            first,
            name,
            loc,
            rng.choice(loc.zones),
            self._render(rng, name, addr, loc),
            client,
            rng.choice(self.hosts[dom]),
        )

    def _role(
        self, rng: random.Random, addr: str, display: str, members: tuple[str, ...]
    ) -> _Person:
        loc = _LOCALES[0]
        dom = addr.split("@", 1)[1]
        hosts = self.hosts.get(dom) or self._make_hosts(rng, dom)
        return _Person(
            addr,
            "",
            display,
            loc,
            loc.zones[0],
            self._render(rng, display, addr, loc),
            0,
            hosts[0],
            members,
        )

    @staticmethod
    def _render(rng: random.Random, name: str, addr: str, loc: _Locale) -> bytes:
        """The mailbox as this person's client writes it in From/To/Cc."""
        if not name:
            return (addr if rng.random() < 0.5 else f"<{addr}>").encode("ascii")
        if name.isascii():
            if rng.random() < 0.2 or any(c in _SPECIALS for c in name):
                return f"{_quote_phrase(name)} <{addr}>".encode("ascii")
            return f"{name} <{addr}>".encode("ascii")
        if loc.code in ("en", "de", "fr", "es", "nordic") and rng.random() < 0.04:
            name = unicodedata.normalize("NFD", name)  # some Mac clients send decomposed text
        r = rng.random()
        if r < 0.12:  # raw UTF-8 (SMTPUTF8-style)
            shown = _quote_phrase(name) if any(c in _SPECIALS for c in name) else name
            return f"{shown} <{addr}>".encode()
        if r < 0.14:
            try:  # raw ISO-8859-1: SEMANTICS reads it as windows-1252
                return f"{_quote_phrase(name)} <{addr}>".encode("iso-8859-1")
            except UnicodeEncodeError:
                pass
        charset, enc = rng.choice(loc.ew_charsets)
        words = _encode_words(name, charset, enc) or _encode_words(name, "UTF-8", "B")
        assert words is not None
        phrase = " ".join(words)
        if rng.random() < 0.1:  # encoded-words inside quotes: wrong by RFC 2047, common in practice
            phrase = f'"{phrase}"'
        return f"{phrase} <{addr}>".encode("ascii")

    @staticmethod
    def _paragraphs(rng: random.Random, loc: _Locale) -> list[str]:
        width = 36 if loc.joiner == "" else 72
        paras = []
        for _ in range(40):
            text = loc.joiner.join(
                rng.sample(loc.sentences, min(len(loc.sentences), rng.randint(2, 5)))
            )
            lines = textwrap.wrap(text, width=width, break_on_hyphens=False)
            paras.append("\r\n".join(lines))
        return paras


class _Payloads:
    """Attachment payloads, base64 with CRLF, each kind built once from its own seeded stream."""

    def __init__(self, seed: int, small: bool) -> None:
        self.seed = seed
        self.small = small
        self.pools: dict[str, list[bytes]] = {}

    def get(self, kind: str, k: int) -> bytes:
        pool = self.pools.get(kind)
        if pool is None:
            rng = random.Random(f"mmarchive-payload:{self.seed}:{kind}:{self.small}")
            pool = [_b64_lines(self._raw(rng, kind)) for _ in range(16)]
            self.pools[kind] = pool
        return pool[k % len(pool)]

    def _raw(self, rng: random.Random, kind: str) -> bytes:
        if self.small:
            size = rng.randint(120, 500)
        elif kind == "inline":
            size = rng.randint(1500, 6000)
        else:  # tens of KB, skewed small
            size = int(8000 * (1 + 9 * rng.random() ** 2))
        if kind == "text/csv":
            rows = ["date;amount;description"]
            words = ("Straße", "Büro", "Miete", "Reise", "café", "ﬁle", "office", "İstanbul")
            total = 0
            while total < size:
                row = (
                    f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d};"
                    f"{rng.randint(1, 9999)},{rng.randint(0, 99):02d};{rng.choice(words)}"
                )
                rows.append(row)
                total += len(row) + 2
            return ("\r\n".join(rows) + "\r\n").encode()
        if kind in ("image/png", "inline"):
            head = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
            return head + rng.randbytes(max(0, size - len(head)))
        head = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
        tail = b"\n%%EOF\n"
        return head + rng.randbytes(max(0, size - len(head) - len(tail))) + tail


# --------------------------------------------------------------------------------------------------
# The generator


@dataclass(slots=True)
class _ThreadEntry:
    msgid: str
    refs: tuple[str, ...]
    subject: str  # without Re:/Fwd: prefixes
    sender: _Person
    date: str


class _Generator:
    def __init__(self, dest: Path, count: int, seed: int, mix: str, start: datetime) -> None:
        self.dest = dest
        self.count = count
        self.small = mix == "small"
        self.rng = random.Random(seed)
        self.pop = _Population(random.Random(f"mmarchive-population:{seed}"))
        self.payloads = _Payloads(seed, self.small)
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        self.start_ms = int(start.timestamp() * 1000)
        self.step = SPAN_MS / max(count, 1)
        self.ring: list[_ThreadEntry] = []
        self.ring_pos = 0
        self.dirs: set[str] = set()
        self.region = _REGIONS[seed % len(_REGIONS)]
        r = random.Random(f"mmarchive-ids:{seed}")
        self.ingress_points = [f"inp-{r.getrandbits(100):025x}" for _ in range(3)]
        self.traffic_policies = [f"tp-{r.getrandbits(100):025x}" for _ in range(2)]
        self.rule_sets = [f"rs-{r.getrandbits(100):025x}" for _ in range(2)]
        self.config_sets = ("transactional", "marketing-eu", "notifications")
        self.pools = ("ses-default-dedicated-pool", "marketing-pool", "")
        self.messages = 0
        self.metadata_files = 0
        self.bytes_written = 0
        self.prev_ms = self.start_ms

    # -- files -------------------------------------------------------------------------------------

    def _write(self, folder: str, name: str, data: bytes) -> None:
        if folder not in self.dirs:
            os.makedirs(os.path.join(self.dest, folder), exist_ok=True)
            self.dirs.add(folder)
        path = os.path.join(self.dest, folder, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        self.bytes_written += len(data)

    # -- one message -------------------------------------------------------------------------------

    def run(self, progress: Callable[[int], None] | None) -> None:
        for i in range(1, self.count + 1):
            self._one(i)
            if progress is not None and (i % PROGRESS_EVERY == 0 or i == self.count):
                progress(i)

    def _one(self, i: int) -> None:
        rng = self.rng
        pop = self.pop
        # Receive time: increasing with jitter; a few exact repeats of the previous instant.
        if i > 1 and rng.random() < 0.02:
            recv_ms = self.prev_ms
        else:
            recv_ms = self.start_ms + int((i - 1 + rng.random() * 0.9) * self.step)
            if rng.random() < 0.3:
                recv_ms -= recv_ms % 1000  # whole seconds
        self.prev_ms = recv_ms
        recv_s = recv_ms // 1000
        inbound = rng.random() < 0.8

        # Thread: reply to or forward a recent message.
        parent: _ThreadEntry | None = None
        forward = False
        if self.ring and rng.random() < 0.25:
            parent = self.ring[rng.randrange(len(self.ring))]
            forward = rng.random() < 0.12

        # People.
        if inbound:
            sender = pop.external.pick(rng) if rng.random() < 0.85 else pop.internal.pick(rng)
            to_pool, cc_pool = pop.internal, (pop.internal if rng.random() < 0.6 else pop.external)
        else:
            sender = pop.internal.pick(rng)
            while sender.members:
                sender = pop.internal.pick(rng)
            to_pool, cc_pool = pop.external, pop.external
        to: list[_Person] = []
        if parent is not None and not forward and parent.sender is not sender:
            to.append(parent.sender)
        for _ in range(rng.choice((1, 1, 1, 1, 2, 2, 3, 4)) - len(to)):
            p = to_pool.pick(rng)
            if p is not sender and p not in to:
                to.append(p)
        if not to:
            to.append(to_pool.items[-1 - (i % 50)])
        cc: list[_Person] = []
        if rng.random() < 0.35:
            for _ in range(rng.randint(1, 3)):
                p = cc_pool.pick(rng)
                if p is not sender and p not in to and p not in cc:
                    cc.append(p)
        loc = sender.locale
        off_std, abbr_std, off_dst, abbr_dst = sender.zone
        month = time.gmtime(recv_s).tm_mon
        summer = 4 <= month <= 10
        off, abbr = (off_dst, abbr_dst) if summer else (off_std, abbr_std)

        # Date header a few seconds before receipt (sometimes minutes: queued mail).
        delay = rng.randint(1, 30) if rng.random() < 0.93 else rng.randint(60, 3600)
        date_s = recv_s - delay
        date_style = bisect.bisect_right(_DATE_STYLE_CUM, rng.random() * 100)
        date_text = _rfc5322_date(date_s, off, date_style, abbr)

        # Subject.
        if parent is not None:
            base = parent.subject
            prefix = rng.choice(_FORWARD_PREFIXES if forward else _REPLY_PREFIXES)
        else:
            base = self._subject_text(loc)
            prefix = ""
        subject = self._render_subject(prefix, base, loc)

        msgid = self._message_id(sender)
        client = _CLIENTS[sender.client]
        headers: dict[str, bytes] = {}
        headers["From"] = _fold("From", [sender.mailbox], b", ")
        to_tokens = [self._recipient(p) for p in to]
        headers["To"] = _fold("To", to_tokens, b", ")
        if cc:
            headers["Cc"] = _fold("Cc", [self._recipient(p) for p in cc], b", ")
        headers["Subject"] = subject
        headers["Date"] = b"Date: " + date_text.encode("ascii") + b"\r\n"
        headers["Message-ID"] = b"Message-ID: " + msgid.encode("ascii") + b"\r\n"
        refs: tuple[str, ...] = ()
        if parent is not None:
            refs = (*parent.refs[-9:], parent.msgid)
            if not forward or rng.random() < 0.3:
                headers["In-Reply-To"] = b"In-Reply-To: " + parent.msgid.encode("ascii") + b"\r\n"
                headers["References"] = _fold("References", [r.encode() for r in refs], b" ")
        headers["MIME-Version"] = b"MIME-Version: 1.0\r\n"

        # Body (sets Content-Type and friends).
        ctype_lines, body = self._body(sender, to[0], parent, loc, client)

        # Assemble: trace headers on top, then the client's fields in its order.
        out: list[bytes] = []
        if rng.random() < 0.6:
            out.append(b"Return-Path: <" + sender.addr.encode("ascii") + b">\r\n")
        out.extend(self._received(sender, to, recv_s, date_s, inbound, (off, abbr)))
        odd = rng.random()
        for key in client[4]:
            value = headers.get(key)
            if value is not None:
                if odd < 0.005:
                    value = value.lower()[: len(key)] + value[len(key) :]  # "subject:" etc.
                out.append(value)
        if "MIME-Version" not in client[4]:
            out.append(headers["MIME-Version"])
        if odd > 0.998:  # a second To: field (SEMANTICS joins them)
            out.append(_fold("To", [self._recipient(to_pool.pick(rng))], b", "))
        if client[0]:
            out.append(b"X-Mailer: " + client[0].encode("ascii") + b"\r\n")
        if rng.random() < 0.06:
            out.append(b"X-Priority: " + rng.choice(_X_PRIORITIES).encode("ascii") + b"\r\n")
        if rng.random() < 0.012:
            other = _CLIENTS[rng.randrange(len(_CLIENTS))][0] or "Microsoft Outlook 15.0"
            out.append(b"X-Original-Mailer: " + other.encode("ascii") + b"\r\n")
        out.extend(ctype_lines)
        out.append(b"\r\n")
        out.append(body)
        data = b"".join(out)

        # File name and folder.
        stem, ext, valid = self._stem(i)
        t = time.gmtime(recv_s)
        folder = f"{t.tm_year:04d}/{t.tm_mon:02d}"
        self._write(folder, stem + ext, data)
        self.messages += 1

        # Metadata beside most messages.
        has_meta = rng.random() < (0.85 if valid else 0.5) and ext == ".eml"
        if has_meta:
            envelope = self._envelope(sender, to, cc, inbound)
            doc = self._metadata(stem, valid, recv_ms, off, envelope, sender, inbound)
            r = rng.random()
            suffix = ".metadata.json" if r < 0.5 else (".eml.json" if r < 0.8 else ".json")
            self._write(folder, stem + suffix, doc)
            self.metadata_files += 1

        entry = _ThreadEntry(msgid, refs, base, sender, date_text)
        if len(self.ring) < 300:
            self.ring.append(entry)
        else:
            self.ring[self.ring_pos] = entry
            self.ring_pos = (self.ring_pos + 1) % 300

    # -- headers -----------------------------------------------------------------------------------

    def _recipient(self, p: _Person) -> bytes:
        if self.rng.random() < 0.08:
            return p.addr.encode("ascii")  # typed by hand, no display name
        return p.mailbox

    def _subject_text(self, loc: _Locale) -> str:
        rng = self.rng
        if loc.code != "en" and rng.random() < 0.25:
            loc = _LOCALES[0]
        template = rng.choice(loc.subjects)
        topic = rng.choice(loc.topics)
        n = rng.randrange(1000, 99999)
        y = 2023 + rng.randrange(3)
        return template.format(n=n, topic=topic.format(n=n, y=y), y=y, q=rng.randint(1, 4))

    def _render_subject(self, prefix: str, text: str, loc: _Locale) -> bytes:
        rng = self.rng
        full = prefix + text
        r = rng.random()
        if full.isascii():
            if r < 0.9:
                return _fold("Subject", full.encode("ascii").split(b" "), b" ")
            words = _encode_words(text, "UTF-8", "Q" if r < 0.95 else "B")
            assert words is not None
            tokens = [w.encode("ascii") for w in words]
            return _fold("Subject", [*prefix.encode("ascii").split(), *tokens], b" ")
        if r < 0.12:  # raw UTF-8
            return _fold("Subject", full.encode().split(b" "), b" ")
        if r < 0.3 and " " in text:  # encode only the runs of words that need it
            tokens = [*prefix.encode("ascii").split()]
            run: list[str] = []
            charset, enc = rng.choice(loc.ew_charsets)

            def flush() -> None:
                if run:
                    joined = " ".join(run)
                    ws = _encode_words(joined, charset, enc) or _encode_words(joined, "UTF-8", "B")
                    assert ws is not None
                    tokens.extend(w.encode("ascii") for w in ws)
                    run.clear()

            for word in text.split(" "):
                if word.isascii():
                    flush()
                    tokens.append(word.encode("ascii"))
                else:
                    run.append(word)
            flush()
            return _fold("Subject", [t for t in tokens if t], b" ")
        charset, enc = rng.choice(loc.ew_charsets)
        words = _encode_words(text, charset, enc) or _encode_words(text, "UTF-8", "B")
        assert words is not None
        tokens = [*prefix.encode("ascii").split(), *(w.encode("ascii") for w in words)]
        return _fold("Subject", tokens, b" ")

    def _message_id(self, sender: _Person) -> str:
        rng = self.rng
        style = _CLIENTS[sender.client][2]
        dom = sender.addr.rsplit("@", 1)[1]
        if style == "gmail":
            tail = base64.urlsafe_b64encode(rng.randbytes(30)).decode("ascii")
            return f"<CA{tail}@mail.gmail.example>"
        if style == "outlook":
            tail = f"{rng.getrandbits(160):040X}"
            return f"<{tail}@PH0PR{rng.randrange(10, 99)}MB{rng.randrange(1000, 9999)}.example.com>"
        if style == "ses":
            u = f"{rng.getrandbits(128):032x}"
            return (
                f"<0100018c{rng.getrandbits(32):08x}-{u[:8]}-{u[8:12]}-{u[12:16]}-{u[16:20]}-"
                f"{u[20:]}-000000@email.amazonses.com>"
            )
        return f"<{rng.getrandbits(64):016x}.{rng.getrandbits(24):06x}@{dom}>"

    def _received(
        self,
        sender: _Person,
        to: list[_Person],
        recv_s: int,
        date_s: int,
        inbound: bool,
        zone: tuple[int, str],
    ) -> list[bytes]:
        """Received fields, topmost (the archive's own, '; <date>' in UTC) first."""
        off, abbr = zone
        rng = self.rng
        host = sender.host
        top_style = rng.randrange(3)
        date = _rfc5322_date(recv_s, 0, 3 if top_style == 0 else 0, "UTC")
        sid = f"{rng.getrandbits(160):040x}"
        fold = "\r\n\t" if top_style != 2 else "\r\n        "
        if inbound:
            line = (
                f"Received: from {host.name} ({host.name} [{host.ip}]){fold}"
                f"by inbound-smtp.{self.region}.amazonaws.com with SMTP id {sid}"
            )
            if len(to) == 1:
                line += f"{fold}for {to[0].addr}"
        else:
            client_ip = _private_ip(rng)
            line = (
                f"Received: from ip-{client_ip.replace('.', '-')}.ec2.internal "
                f"(ip-{client_ip.replace('.', '-')}.ec2.internal [{client_ip}]){fold}"
                f"by email-smtp.{self.region}.amazonaws.com with SMTP "
                f"(SimpleEmailService-d-{sid[:10].upper()}) id {sid}"
            )
        lines = [(line + ";" + fold + date + "\r\n").encode("ascii")]
        # Lower hops, newest first: an internal relay, then the submission (or a local pickup).
        hops = ((), ("submit",), ("local",), ("relay", "submit"))[rng.randrange(4)]
        t = recv_s
        for kind in hops:
            t = max(date_s, t - rng.randint(0, 3))
            qid = f"{rng.getrandbits(40):010X}"
            hop_date = _rfc5322_date(t, off, 3, abbr)
            if kind == "local":
                text = f"by {host.name} (Postfix, from userid 33)\r\n\tid {qid}; {hop_date}"
            elif kind == "relay":
                relay = "relay." + sender.addr.rsplit("@", 1)[1]
                text = (
                    f"from {relay} ({relay} [{_private_ip(rng)}])\r\n\tby {host.name} with ESMTP "
                    f"id {qid};\r\n\t{hop_date}"
                )
            else:
                ip = _ip(rng)
                text = (
                    f"from [{ip}] (unknown [{ip}])\r\n\tby {host.name} (Postfix) with ESMTPSA id "
                    f"{qid}\r\n\tfor <{to[0].addr}>; {hop_date}"
                )
            lines.append(f"Received: {text}\r\n".encode("ascii"))
        return lines

    def _stem(self, i: int) -> tuple[str, str, bool]:
        """(stem, extension, stem is a valid id)."""
        rng = self.rng
        valid = f"m-{i:07d}-{rng.getrandbits(32):08x}"
        if i % INVALID_NAME_EVERY == 13:
            pattern = _INVALID_STEMS[(i // INVALID_NAME_EVERY) % len(_INVALID_STEMS)]
            long = valid + "-" + "x" * (140 - len(valid))
            return pattern.format(i=i, valid=valid, long=long), ".eml", False
        if i % UPPER_EXT_EVERY == 40:
            return valid, ".EML", True
        return valid, ".eml", True

    # -- body --------------------------------------------------------------------------------------

    def _boundary(self, style: str) -> str:
        rng = self.rng
        if style == "gmail":
            return f"000000000000{rng.getrandbits(64):016x}"
        if style == "outlook":
            return f"----=_NextPart_000_{rng.getrandbits(16):04X}_01DA{rng.getrandbits(16):04X}.1"
        if style == "apple":
            u = f"{rng.getrandbits(128):032X}"
            return f"Apple-Mail={u[:8]}-{u[8:12]}-{u[12:16]}-{u[16:20]}-{u[20:]}"
        if style == "thunderbird":
            alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
            return "------------" + "".join(rng.choice(alnum) for _ in range(24))
        if style == "php":
            return f"b1=_{rng.getrandbits(128):032x}"
        if style == "python":
            return f"==============={rng.getrandbits(60):019d}=="
        return f"----=_Part_{rng.randrange(100000)}_{rng.getrandbits(30)}.{rng.getrandbits(40)}"

    def _text_part(self, text: str, loc: _Locale, prefer_qp: bool, subtype: str) -> bytes:
        """Headers + blank line + body of one text part."""
        rng = self.rng
        if text.isascii():
            r = rng.random()
            charset = "us-ascii" if r < 0.3 else "utf-8"
            if r < 0.85:
                cte, payload = "7bit", text.encode("ascii")
            elif r < 0.95:
                cte, payload = "quoted-printable", binascii.b2a_qp(text.encode("ascii"))
            else:
                cte, payload = "base64", _b64_lines(text.encode("ascii"))
        else:
            r = rng.random()
            charset = "utf-8"
            data = b""
            if r < 0.15 and loc.body_charsets:
                cs = rng.choice(loc.body_charsets)
                try:
                    data = text.encode(cs)
                    charset = cs
                except UnicodeEncodeError:
                    data = b""
            if not data:
                data = text.encode()
            r = rng.random()
            if charset.lower().startswith("iso-2022"):
                cte, payload = "7bit", data
            elif r < (0.55 if prefer_qp else 0.25):
                cte, payload = "quoted-printable", binascii.b2a_qp(data)
            elif r < 0.75:
                cte, payload = "8bit", data
            else:
                cte, payload = "base64", _b64_lines(data)
        if not payload.endswith(b"\r\n"):
            payload += b"\r\n"
        head = f"Content-Type: text/{subtype}; charset={charset}"
        if rng.random() < 0.5:
            head = f'Content-Type: text/{subtype}; charset="{charset}"'
        return (f"{head}\r\nContent-Transfer-Encoding: {cte}\r\n\r\n").encode("ascii") + payload

    def _compose_text(
        self, sender: _Person, first_to: _Person, parent: _ThreadEntry | None, loc: _Locale
    ) -> tuple[str, list[str]]:
        """(plain text, paragraphs for the HTML version)."""
        rng = self.rng
        paras = self.pop.paragraphs[loc.code]
        if self.small:
            sentences = rng.sample(loc.sentences, rng.randint(1, 2))
            body = sentences
            return "\r\n".join(body) + "\r\n", body
        blocks: list[str] = []
        if first_to.first:
            blocks.append(loc.greeting.format(first=first_to.first))
        n = rng.choice((1, 2, 2, 3, 3, 3, 4, 4, 5, 6))
        for _ in range(n):
            blocks.append(paras[rng.randrange(len(paras))])
        if rng.random() < 0.005:
            blocks.append(_PASTED_HEADERS)
        sign = loc.closing + "\r\n" + (sender.name or sender.addr)
        if rng.random() < 0.4:
            sign += f"\r\n{rng.choice(('Account Manager', 'Einkauf', 'Finance', 'Operations'))}"
            phone = f"+{rng.randrange(1, 99)} {rng.randrange(100, 999)} {rng.randrange(10**6)}"
            sign += f"\r\nPhone {phone}"
        blocks.append(sign)
        html_blocks = list(blocks)
        if parent is not None and rng.random() < 0.7:
            quoted = paras[rng.randrange(len(paras))]
            name = parent.sender.name or parent.sender.addr
            intro = loc.wrote.format(date=parent.date, name=name)
            blocks.append(intro + "\r\n" + "\r\n".join("> " + q for q in quoted.split("\r\n")))
        return "\r\n\r\n".join(blocks) + "\r\n", html_blocks

    @staticmethod
    def _html(blocks: list[str]) -> str:
        inner = "\r\n".join(
            "<p>" + html.escape(b, quote=False).replace("\r\n", "<br>\r\n") + "</p>" for b in blocks
        )
        return f'<html>\r\n<body>\r\n<div dir="ltr">\r\n{inner}\r\n</div>\r\n</body>\r\n</html>\r\n'

    def _param(self, key: str, value: str) -> str:
        """A MIME parameter in one of the spellings clients use for non-ASCII values."""
        if value.isascii():
            return f'{key}="{value}"'
        r = self.rng.random()
        if r < 0.5:
            pct = quote(value.encode(), safe="")
            if len(pct) > 60 and r < 0.25:  # RFC 2231 continuations
                parts = [pct[k : k + 45] for k in range(0, len(pct), 45)]
                first = f"{key}*0*=UTF-8''{parts[0]}"
                rest = "".join(f";\r\n {key}*{k}*={p}" for k, p in enumerate(parts[1:], 1))
                return first + rest
            return f"{key}*=UTF-8''{pct}"
        if r < 0.8:
            words = _encode_words(value, "UTF-8", "B")
            assert words is not None
            return f'{key}="{" ".join(words)}"'
        return f'{key}="{value}"'  # raw UTF-8

    def _attachment(self, kind: str) -> bytes:
        rng = self.rng
        n = rng.randrange(1, 9999)
        name = rng.choice(_ATTACHMENT_NAMES[kind]).format(n=n)
        payload = self.payloads.get(kind, rng.randrange(1 << 16))
        r = rng.random()
        if r < 0.75:  # disposition with file name, usually also name= on the type
            ctype = f"Content-Type: {kind}"
            if rng.random() < 0.7:
                ctype += ";\r\n " + self._param("name", name)
            disp = "Content-Disposition: attachment;\r\n " + self._param("filename", name)
            head = f"{ctype}\r\n{disp}\r\n"
        elif r < 0.9:  # old clients: only name= on the type
            head = f"Content-Type: {kind};\r\n {self._param('name', name)}\r\n"
        else:  # disposition without any file name
            head = f"Content-Type: {kind}\r\nContent-Disposition: attachment\r\n"
        return (head + "Content-Transfer-Encoding: base64\r\n\r\n").encode() + payload

    def _inline_image(self, with_name: bool) -> tuple[bytes, str]:
        rng = self.rng
        cid = f"image{rng.randrange(1, 9):03d}.png@01DA{rng.getrandbits(32):08X}"
        lines = ["Content-Type: image/png" + ('; name="image001.png"' if with_name else "")]
        if with_name:
            lines.append('Content-Disposition: inline; filename="image001.png"')
        lines += [f"Content-ID: <{cid}>", "Content-Transfer-Encoding: base64", "", ""]
        part = "\r\n".join(lines).encode("ascii") + self.payloads.get("inline", rng.randrange(99))
        return part, cid

    def _forwarded(self, loc: _Locale) -> bytes:
        """A message/rfc822 part holding a short earlier message."""
        rng = self.rng
        pop = self.pop
        who = pop.external.pick(rng)
        to = pop.internal.pick(rng)
        ts = self.prev_ms // 1000 - rng.randint(3600, 30 * 86400)
        inner_subject = self._subject_text(who.locale)
        subj = self._render_subject("", inner_subject, who.locale)
        text = "\r\n".join(rng.sample(who.locale.sentences, 2)) + "\r\n"
        inner = (
            _fold("From", [who.mailbox], b", ")
            + _fold("To", [to.mailbox], b", ")
            + subj
            + f"Date: {_rfc5322_date(ts, who.zone[0], 0, who.zone[1])}\r\n".encode("ascii")
            + f"Message-ID: {self._message_id(who)}\r\n".encode("ascii")
            + b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
            + b"Content-Transfer-Encoding: 8bit\r\n\r\n"
            + text.encode()
        )
        r = rng.random()
        head = "Content-Type: message/rfc822\r\n"
        if r < 0.3:
            head += "Content-Disposition: inline\r\n"
        elif r < 0.6:
            head += 'Content-Disposition: attachment; filename="Forwarded message.eml"\r\n'
        return head.encode("ascii") + b"\r\n" + inner

    @staticmethod
    def _multipart(
        subtype: str, boundary: str, parts: list[bytes], preamble: bool
    ) -> tuple[bytes, bytes]:
        """(Content-Type header line, body) of a multipart entity."""
        ctype = f'Content-Type: multipart/{subtype};\r\n boundary="{boundary}"\r\n'.encode("ascii")
        delim = b"--" + boundary.encode("ascii")
        out = [b"This is a multi-part message in MIME format.\r\n\r\n"] if preamble else []
        for part in parts:
            out.append(delim + b"\r\n")
            out.append(part)
            if not part.endswith(b"\r\n"):
                out.append(b"\r\n")
        out.append(delim + b"--\r\n")
        return ctype, b"".join(out)

    def _body(
        self,
        sender: _Person,
        first_to: _Person,
        parent: _ThreadEntry | None,
        loc: _Locale,
        client: tuple[str, str, str, bool, tuple[str, ...]],
    ) -> tuple[list[bytes], bytes]:
        """(Content-* header lines, body bytes)."""
        rng = self.rng
        bstyle = client[1]
        prefer_qp = client[3]
        text, blocks = self._compose_text(sender, first_to, parent, loc)
        preamble = rng.random() < 0.4

        def split(entity: bytes) -> tuple[list[bytes], bytes]:
            head, _, body = entity.partition(b"\r\n\r\n")
            return [head + b"\r\n"], body

        def as_entity(ctype: bytes, body: bytes) -> bytes:
            return ctype + b"\r\n" + body

        if self.small:
            main = self._text_part(text, loc, prefer_qp, "plain")
            if rng.random() >= 0.1:
                return split(main)
            kind = rng.choice(("text/csv", "image/png", "application/pdf"))
            parts = [main, self._attachment(kind)]
            ctype, body = self._multipart("mixed", self._boundary(bstyle), parts, preamble)
            return [ctype], body

        r = rng.random()
        inline = r < 0.03
        alternative = inline or r < 0.6
        if alternative:
            plain = self._text_part(text, loc, prefer_qp, "plain")
            html_part = self._text_part(self._html(blocks), loc, prefer_qp, "html")
            if inline:
                img, _cid = self._inline_image(with_name=rng.random() < 0.75)
                rel_ct, rel_body = self._multipart(
                    "related", self._boundary(bstyle), [html_part, img], False
                )
                html_part = as_entity(rel_ct, rel_body)
            alt_ct, alt_body = self._multipart(
                "alternative", self._boundary(bstyle), [plain, html_part], False
            )
            main = as_entity(alt_ct, alt_body)
        else:
            main = self._text_part(text, loc, prefer_qp, "plain")
        extra: list[bytes] = []
        if rng.random() < 0.15:
            kinds = ("application/pdf", "application/pdf", "image/png", "text/csv")
            for _ in range(1 if rng.random() < 0.7 else 2):
                extra.append(self._attachment(rng.choice(kinds)))
        if rng.random() < 0.02:
            extra.append(self._forwarded(loc))
        if not extra:
            return split(main)
        ctype, body = self._multipart("mixed", self._boundary(bstyle), [main, *extra], preamble)
        return [ctype], body

    # -- metadata ----------------------------------------------------------------------------------

    def _envelope(
        self, sender: _Person, to: list[_Person], cc: list[_Person], inbound: bool
    ) -> dict[str, object]:
        rng = self.rng
        rcpts: list[str] = []
        for p in (*to, *cc):
            if p.members and rng.random() < 0.8:
                rcpts.extend(p.members)  # alias expanded before the archive saw it
            else:
                rcpts.append(p.addr)
        r = rng.random()
        if r < 0.08:  # BCC recipients
            for _ in range(rng.randint(1, 2)):
                rcpts.append(self.pop.internal.pick(rng).addr)
        elif r < 0.13 and inbound:  # only the recipients this ingress serves
            own = [a for a in rcpts if a.rsplit("@", 1)[1] in _ORG_DOMAINS]
            rcpts = own or rcpts
        if rng.random() < 0.03:
            rcpts = [a.upper() if k == 0 else a for k, a in enumerate(rcpts)]
        rcpts = list(dict.fromkeys(rcpts))
        if sender.client == len(_CLIENTS) - 1 or rng.random() < 0.1:
            mail_from = (
                f"0100018c{rng.getrandbits(32):08x}-{rng.getrandbits(32):08x}-000000@amazonses.com"
            )
        elif rng.random() < 0.05:
            dom = sender.addr.rsplit("@", 1)[1]
            mail_from = f"bounces+{rng.randrange(10**6)}-{rng.getrandbits(16):04x}@{dom}"
        else:
            mail_from = sender.addr
        r = rng.random()
        helo = (
            sender.host.name if r < 0.85 else (f"[{sender.host.ip}]" if r < 0.95 else "localhost")
        )
        return {"From": mail_from, "To": rcpts, "Helo": helo}

    def _timestamp(self, ms: int, off: int) -> object:
        """The receive time in one of the accepted spellings."""
        k = self.rng.randrange(8)
        if k == 0:
            return _iso(ms, off, False, "Z")
        if k == 1:
            return _iso(ms, off, False, "+00:00")
        if k == 2:
            return _iso(ms, off if off else 120, self.rng.random() < 0.5, "offset")
        if k == 3:
            return _iso(ms, off, True, "Z")
        if k == 4:
            return _iso(ms, off, True, "")  # no offset means UTC
        if k == 5:
            return ms // 1000
        if k == 6:
            return round(ms / 1000, 3)
        return ms

    def _metadata(
        self,
        stem: str,
        valid: bool,
        recv_ms: int,
        off: int,
        envelope: dict[str, object],
        sender: _Person,
        inbound: bool,
    ) -> bytes:
        rng = self.rng
        host = sender.host
        if inbound:
            tls = rng.choice(_TLS)
            rs = rng.choice(self.rule_sets)
            meta: dict[str, object] = {
                "Timestamp": self._timestamp(recv_ms, off),
                "IngressPointId": rng.choice(self.ingress_points),
                "TrafficPolicyId": rng.choice(self.traffic_policies),
                "RuleSetId": rs,
                "SenderHostname": host.name,
                "SenderIpAddress": host.ip,
                "TlsCipherSuite": tls[1],
                "TlsProtocol": tls[0],
                "SourceArn": f"arn:aws:ses:{self.region}:{_ACCOUNT}:mailmanager-rule-set/{rs}",
            }
        else:
            cs = rng.choice(self.config_sets)
            meta = {
                "Timestamp": self._timestamp(recv_ms, off),
                "SenderIpAddress": _private_ip(rng),
                "SendingMethod": rng.choice(_SENDING_METHODS),
                "SourceIdentity": sender.addr.rsplit("@", 1)[1],
                "SendingPool": rng.choice(self.pools),
                "ConfigurationSet": cs,
                "SourceArn": f"arn:aws:ses:{self.region}:{_ACCOUNT}:configuration-set/{cs}",
            }
            if not meta["SendingPool"]:
                del meta["SendingPool"]
        r = rng.random()
        if r < 0.1:  # all 13 members, the ones that do not apply as null
            full = dict.fromkeys(
                (
                    "Timestamp", "IngressPointId", "TrafficPolicyId", "RuleSetId", "SenderHostname",
                    "SenderIpAddress", "TlsCipherSuite", "TlsProtocol", "SendingMethod",
                    "SourceIdentity", "SendingPool", "ConfigurationSet", "SourceArn",
                )
            )  # fmt: skip
            full.update(meta)
            meta = full
        elif r < 0.2:  # a member missing
            victim = rng.choice([k for k in meta if k != "Timestamp"])
            del meta[victim]
        elif r < 0.22:
            del meta["Timestamp"]  # the topmost Received header supplies the time

        if valid:
            r = rng.random()
            amid: str | None = stem if r < 0.88 else (
                f"a-{rng.getrandbits(96):024x}" if r < 0.95 else None
            )  # fmt: skip
        else:
            amid = None
        doc: dict[str, object] = {}
        form = rng.random()
        if form < 0.65:  # the GetArchiveMessage-like form
            if amid is not None:
                doc["ArchivedMessageId"] = amid
            doc["Envelope"] = envelope
            doc["Metadata"] = meta
            if form < 0.03:  # both forms at once, same instant
                doc["ReceivedTimestamp"] = recv_ms
        else:  # the flat Row form
            if amid is not None:
                doc["ArchivedMessageId"] = amid
            doc["ReceivedTimestamp"] = self._timestamp(recv_ms, off)
            doc["Envelope"] = envelope
            for key in ("IngressPointId", "SenderHostname", "SenderIpAddress", "SourceArn"):
                if key in meta and meta[key] is not None:
                    doc[key] = meta[key]
        case = rng.random()
        if case < 0.1:
            doc = _rekey(doc, str.lower)
        elif case < 0.15:
            doc = _rekey(doc, str.upper)
        elif case < 0.25:
            doc = _rekey(doc, lambda k: k[:1].lower() + k[1:])
        layout = rng.random()
        if layout < 0.5:
            text = _dumps_indented(doc) + "\n"
        elif layout < 0.8:
            text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
        else:
            text = json.dumps(doc, ensure_ascii=False) + "\n"
        return text.encode()


_JSON_SCALAR = json.JSONEncoder(ensure_ascii=False).encode


def _dumps_indented(doc: dict[str, object], level: int = 0) -> str:
    """json.dumps(doc, indent=2, ensure_ascii=False), without the pure-Python indent encoder."""
    if not doc:
        return "{}"
    pad = "  " * (level + 1)
    items = []
    for key, value in doc.items():
        if isinstance(value, dict):
            text = _dumps_indented(value, level + 1)
        elif isinstance(value, list) and value:
            inner = ",\n".join(pad + "  " + _JSON_SCALAR(x) for x in value)
            text = "[\n" + inner + "\n" + pad + "]"
        else:
            text = _JSON_SCALAR(value)
        items.append(pad + _JSON_SCALAR(key) + ": " + text)
    return "{\n" + ",\n".join(items) + "\n" + "  " * level + "}"


def _rekey(doc: dict[str, object], fn: Callable[[str], str]) -> dict[str, object]:
    out: dict[str, object] = {}
    for k, v in doc.items():
        out[fn(k)] = _rekey(v, fn) if isinstance(v, dict) else v
    return out


# --------------------------------------------------------------------------------------------------
# Public entry points


def generate_export(
    dest: Path,
    count: int,
    *,
    seed: int = 0,
    mix: str = "default",
    start: datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> GenerateReport:
    """Write a synthetic SES Mail Manager export of `count` messages under `dest`.

    The same (count, seed, mix, start) always gives byte-identical files. `progress` is called with
    the number of messages written every 1000 messages and at the end.

    Raises ValueError for an unknown mix or a negative count, FileExistsError when `dest` exists and
    is not an empty folder, and OSError when writing fails.
    """
    if mix not in MIXES:
        raise ValueError(f"unknown mix {mix!r}; expected one of {', '.join(MIXES)}")
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise FileExistsError(f"destination {dest} exists and is not an empty folder")
    began = time.perf_counter()
    dest.mkdir(parents=True, exist_ok=True)
    gen = _Generator(dest, count, seed, mix, start or DEFAULT_START)
    gen.run(progress)
    return GenerateReport(
        messages=gen.messages,
        metadata_files=gen.metadata_files,
        bytes_written=gen.bytes_written,
        seconds=time.perf_counter() - began,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m ingest.generate DEST --count N --seed S --mix small`."""
    parser = argparse.ArgumentParser(
        prog="python -m ingest.generate", description="Write a synthetic SES Mail Manager export."
    )
    parser.add_argument("dest", type=Path, help="empty or missing folder to write into")
    parser.add_argument("--count", type=int, default=1000, help="number of messages (1000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (0)")
    parser.add_argument("--mix", choices=MIXES, default="default", help="message mix (default)")
    parser.add_argument(
        "--start",
        type=datetime.fromisoformat,
        default=None,
        help="first receive time, ISO 8601 (2024-01-01T00:00:00+00:00)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    args = parser.parse_args(argv)

    def show(n: int) -> None:
        print(f"\r{n}/{args.count} messages", end="", file=sys.stderr, flush=True)

    try:
        report = generate_export(
            args.dest,
            args.count,
            seed=args.seed,
            mix=args.mix,
            start=args.start,
            progress=None if args.quiet else show,
        )
    except (ValueError, OSError) as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    if not args.quiet and report.messages:
        print(file=sys.stderr)
    rate = report.messages / report.seconds if report.seconds > 0 else 0.0
    print(
        f"{report.messages} messages, {report.metadata_files} metadata files, "
        f"{report.bytes_written} bytes in {report.seconds:.1f}s ({rate:.0f} msgs/s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
