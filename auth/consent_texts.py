"""The shipped default texts: the participation agreement and the optional consents.

Each text has a plain-language version (selkokieli), shown first, and a full
version behind it, in Finnish, Swedish and English. (Plain-language Finnish
pages show the Finnish texts: their first layer is already selkokieli.) Organisations publish their own
versions per programme or team; these are version 1 for everyone else.
"""

from __future__ import annotations

from dataclasses import dataclass

AGREEMENT = "agreement"
OPTIONAL_PURPOSES = ("quotes", "progress_email", "photos", "research")
PURPOSES = (AGREEMENT, *OPTIONAL_PURPOSES)


@dataclass(frozen=True)
class DefaultText:
    plain: str
    full: str


DEFAULTS: dict[tuple[str, str], DefaultText] = {
    (AGREEMENT, "fi"): DefaultText(
        plain="""## Sinun roolisi
Olet mukana kehittämässä palvelua. Olet tiimissä samanarvoinen jäsen kuin työntekijät. Sinun kokemuksesi on tärkeä.

## Mitä sinulta toivotaan
Kerro omin sanoin, mikä palvelussa toimii ja mikä ei. Voit osallistua silloin kun jaksat. Voit aina kysyä yhteyshenkilöltäsi.

## Mitä tallennetaan ja mitä ei
Tallennamme nimen, jonka valitset itse. Tallennamme myös sen, mitä kirjoitat tauluille. Tiimin jäsenet näkevät ne. Emme kysy terveystietoja, henkilötunnusta tai pankkitietoja. Älä kirjoita niitä. Tiedot poistetaan, kun kehittämistyö on päättynyt ja säilytysaika on kulunut.

## Palkkio
Tästä työstä ei makseta palkkiota, ellei yhteyshenkilösi ole kanssasi toisin sopinut. Jos palkkio maksetaan, sen maksaa hyvinvointialue ja se on veronalaista tuloa. Kysy yhteyshenkilöltäsi.

## Näin lopetat
Voit lopettaa milloin tahansa. Mene kohtaan "Omat tiedot ja suostumukset". Voit valita, jäävätkö kirjoituksesi nimettöminä vai poistetaanko ne.""",
        full="""Osallistumissopimus, yhteiskehittäminen

1. Osapuolet ja tarkoitus. Osallistut hyvinvointialueen palvelujen kehittämiseen kehittäjäasiakkaana tai kokemusasiantuntijana. Kehittäminen on julkisen tehtävän hoitamista; sinun osallistumisesi on vapaaehtoista.
2. Rooli ja odotukset. Olet tiimin jäsen samoin oikeuksin kuin työntekijät. Sinulla on nimetty yhteyshenkilö, jolta voit kysyä kaikesta. Osallistumisesi määrä on sinun päätettävissäsi.
3. Käsiteltävät tiedot. Käsittelemme valitsemaasi nimeä (voi olla keksitty), halutessasi yhteystietojasi ja tauluille kirjoittamaasi sisältöä. Yhteystietosi näkee vain yhteyshenkilösi. Emme käsittele terveystietojasi emmekä henkilötunnustasi; järjestelmä estää henkilötunnuksen kirjoittamisen.
4. Kuka näkee. Tiimin taulut näkevät tiimin jäsenet ja valmennuksen valmentajat. Vertaistukitilaa eivät näe työntekijät eivätkä valmentajat.
5. Säilytys. Tiimin aineistosta poistetaan henkilötiedot, kun valmennuskierros on päättynyt ja organisaation määräämä säilytysaika on kulunut.
6. Palkkio ja kulukorvaus. Palkkiosta tai kulukorvauksesta sovitaan erikseen yhteyshenkilön kanssa. Maksaja on hyvinvointialue. Palkkio on veronalaista tuloa. Järjestelmä ei kerää pankki- tai verotietoja.
7. Lopettaminen. Voit lopettaa milloin tahansa kohdasta "Omat tiedot ja suostumukset". Valitset, jäävätkö kirjoituksesi nimettöminä ("Entinen osallistuja") vai poistetaanko ne. Lopettaminen ei vaikuta palveluihisi.""",
    ),
    (AGREEMENT, "en"): DefaultText(
        plain="""## Your role
You help to improve a service. In the team you are an equal member with the staff. Your experience matters.

## What we hope for
Tell in your own words what works in the service and what does not. Take part when you feel up to it. You can always ask your contact person.

## What is recorded and what is not
We record the name you choose and what you write on the boards. The team members see them. We do not ask for health details, your identity code or bank details. Please do not write them. The data is deleted when the work has ended and the keeping time has passed.

## Fee
There is no fee for this work unless your contact person has agreed otherwise with you. If a fee is paid, the wellbeing services county pays it and it is taxable income. Ask your contact person.

## How to stop
You can stop at any time. Go to "My data and consents". You choose whether your writings stay without your name or are deleted.""",
        full="""Participation agreement, co-development

1. Parties and purpose. You take part in developing the wellbeing services county's services as a developer customer or expert by experience. Developing services is part of a public task; your participation is voluntary.
2. Role and expectations. You are a team member with the same rights as the staff. You have a named contact person whom you can ask about anything. How much you take part is up to you.
3. Data processed. We process the name you choose (it may be made up), your contact details if you give them, and what you write on the boards. Only your contact person sees your contact details. We do not process your health data or your identity code; the system refuses identity codes.
4. Who sees it. The team's boards are seen by the team members and the programme's coaches. Staff and coaches never see the peer-support room.
5. Keeping. Personal data is removed from the team's material when the coaching round has ended and the keeping time set by the organisation has passed.
6. Fee and expenses. A fee or reimbursement of expenses is agreed separately with your contact person. The county pays it. A fee is taxable income. The system collects no bank or tax details.
7. Stopping. You can stop at any time under "My data and consents". You choose whether your writings stay without your name ("Former participant") or are deleted. Stopping does not affect your services.""",
    ),
    ("quotes", "fi"): DefaultText(
        plain="Saamme lainata kirjoittamaasi tekstiä julkaisuissa ja raporteissa ilman nimeäsi.",
        full="Annat luvan käyttää tauluille kirjoittamiasi lainauksia julkisissa tuotoksissa, kuten käytäntökuvauksissa ja raporteissa. Nimeäsi ei julkaista. Voit perua luvan milloin tahansa; jo julkaistuja tuotoksia ei voida muuttaa.",
    ),
    ("quotes", "en"): DefaultText(
        plain="We may quote what you wrote in publications and reports, without your name.",
        full="You allow quotes of what you wrote on the boards to be used in public outputs such as practice descriptions and reports. Your name is not published. You can withdraw at any time; outputs already published cannot be changed.",
    ),
    ("progress_email", "fi"): DefaultText(
        plain="Saat sähköpostiin tietoa siitä, mitä kehittämistyöstä seurasi.",
        full="Annat luvan lähettää sähköpostiisi tiedotteita kehittämistyön tuloksista myös sen jälkeen, kun olet lopettanut. Jokaisessa viestissä on linkki, jolla tilauksen voi perua.",
    ),
    ("progress_email", "en"): DefaultText(
        plain="You get e-mails about what came of the work.",
        full="You allow updates about the results of the work to be sent to your e-mail, also after you have left. Every message has a link to stop them.",
    ),
    ("photos", "fi"): DefaultText(
        plain="Tilaisuuksissa saa ottaa kuvia tai tallenteita, joissa näyt tai kuulut.",
        full="Annat luvan valokuviin ja ääni- tai videotallenteisiin, joissa esiinnyt, kehittämistyön dokumentointia varten. Tallennus vaatii lisäksi jokaisen paikalla olevan asiakkaan luvan kyseisessä tilaisuudessa.",
    ),
    ("photos", "en"): DefaultText(
        plain="Photos or recordings in which you appear may be taken at events.",
        full="You allow photographs and audio or video recordings in which you appear, to document the work. A recording also needs the consent of every customer present at that session.",
    ),
    ("research", "fi"): DefaultText(
        plain="Kirjoituksiasi saa käyttää tutkimuksessa ilman nimeäsi.",
        full="Annat luvan käyttää tauluille kirjoittamaasi sisältöä nimettömänä tieteellisessä tutkimuksessa, joka koskee palvelujen kehittämistä.",
    ),
    ("research", "en"): DefaultText(
        plain="What you wrote may be used in research, without your name.",
        full="You allow what you wrote on the boards to be used without your name in scientific research on developing services.",
    ),
    (AGREEMENT, "sv"): DefaultText(
        plain="""## Din roll
Du är med och utvecklar en tjänst. I teamet är du en lika viktig medlem som de anställda. Din erfarenhet är viktig.

## Vad vi hoppas av dig
Berätta med egna ord vad som fungerar i tjänsten och vad som inte gör det. Var med när du orkar. Du kan alltid fråga din kontaktperson.

## Vad som sparas och vad som inte sparas
Vi sparar namnet som du själv väljer. Vi sparar också det du skriver på tavlorna. Teamets medlemmar ser dem. Vi frågar inte efter hälsouppgifter, personbeteckning eller bankuppgifter. Skriv inte dem. Uppgifterna tas bort när arbetet är slut och förvaringstiden har gått.

## Arvode
För det här arbetet betalas inget arvode, om inte din kontaktperson har kommit överens med dig om något annat. Om ett arvode betalas, betalar välfärdsområdet det och det är skattepliktig inkomst. Fråga din kontaktperson.

## Så slutar du
Du kan sluta när som helst. Gå till "Mina uppgifter och samtycken". Du väljer om dina texter blir kvar utan ditt namn eller tas bort.""",
        full="""Deltagaravtal, samutveckling

1. Parter och syfte. Du deltar i utvecklingen av välfärdsområdets tjänster som utvecklarkund eller erfarenhetsexpert. Utvecklingen är en del av en offentlig uppgift; ditt deltagande är frivilligt.
2. Roll och förväntningar. Du är medlem i teamet med samma rättigheter som de anställda. Du har en namngiven kontaktperson som du kan fråga om allt. Hur mycket du deltar bestämmer du själv.
3. Uppgifter som behandlas. Vi behandlar namnet du väljer (det kan vara påhittat), dina kontaktuppgifter om du vill ge dem och det du skriver på tavlorna. Bara din kontaktperson ser dina kontaktuppgifter. Vi behandlar inte dina hälsouppgifter eller din personbeteckning; systemet hindrar att en personbeteckning skrivs.
4. Vem ser. Teamets tavlor ses av teamets medlemmar och coachningens coacher. De anställda och coacherna ser aldrig rummet för kamratstöd.
5. Förvaring. Personuppgifterna tas bort ur teamets material när coachningsomgången har slutat och den förvaringstid som organisationen har bestämt har gått.
6. Arvode och kostnadsersättning. Arvode eller kostnadsersättning avtalas separat med kontaktpersonen. Välfärdsområdet betalar. Ett arvode är skattepliktig inkomst. Systemet samlar inte in bank- eller skatteuppgifter.
7. Att sluta. Du kan sluta när som helst under "Mina uppgifter och samtycken". Du väljer om dina texter blir kvar utan ditt namn ("Tidigare deltagare") eller tas bort. Att sluta påverkar inte dina tjänster.""",
    ),
    ("quotes", "sv"): DefaultText(
        plain="Vi får citera det du skrev i publikationer och rapporter, utan ditt namn.",
        full="Du ger tillstånd att citat av det du skrivit på tavlorna används i offentliga resultat, till exempel beskrivningar av arbetssätt och rapporter. Ditt namn publiceras inte. Du kan återkalla tillståndet när som helst; resultat som redan publicerats kan inte ändras.",
    ),
    ("progress_email", "sv"): DefaultText(
        plain="Du får e-post om vad som blev av arbetet.",
        full="Du ger tillstånd att meddelanden om resultaten av arbetet skickas till din e-post, också efter att du har slutat. Varje meddelande har en länk för att avsluta prenumerationen.",
    ),
    ("photos", "sv"): DefaultText(
        plain="Vid träffarna får man ta bilder eller inspelningar där du syns eller hörs.",
        full="Du ger tillstånd till fotografier och ljud- eller videoinspelningar där du förekommer, för att dokumentera arbetet. En inspelning kräver dessutom tillstånd av varje kund som är närvarande vid träffen.",
    ),
    ("research", "sv"): DefaultText(
        plain="Det du skrev får användas i forskning, utan ditt namn.",
        full="Du ger tillstånd att det du skrivit på tavlorna används utan ditt namn i vetenskaplig forskning om utveckling av tjänster.",
    ),
}
