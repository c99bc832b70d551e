package local

// The stop-word lists are written out here rather than loaded, so the tagger
// needs no files. Besides function words they hold news and Telegram
// boilerplate ("подписаться", "читать", "источник") that would otherwise
// come out as tags, the months and weekdays in every case (dates, not
// topics: «ноябрю»), and the verbs whose past tense has no -л («достиг»,
// «помог», «вырос») that the ending rules cannot tell from nouns, and «РФ» (the
// country of nearly every Russian news post, which editors name «Россия» when
// it is the topic). Words are lower-case with ё folded to е.

const russianStopWords = `
рф
а абсолютно авось ага ах ахах без безо более больше будем будет будете будешь
буду будто будут будучи бы был была были было быть в вам вами вас ваш ваша ваше
ваши вдоль вдруг ведь весь вместе вместо вне вниз внизу во вновь вокруг вон вообще
вопреки вот впрочем все всего всегда всей всем всеми всему всех всею всю вся всякий
всякая всякое всякие всё вы где гм да давай давайте даже два две для до довольно
другая другие другим другими других другое другой его ее ей ему если есть еще ж же
за затем зато зачем здесь и из или им ими иногда их к каждая каждое каждые каждый
кажется как какая какие каким какими каких какого какое какой каком какую когда
кого кое который которая которое которые которой которого котором которую которых
которым которыми кроме кто куда ли либо лишь между меня мне много многие многих мной
мною мог могла могли могло может можно мой моя мое мои мои мы на над надо назад наиболее
наконец нам нами нас наш наша наше наши не него нее ней нельзя нем немного нему нет
ни нибудь нигде никак никогда никто ним ними ничего ничто но ну нужно о об обо однако
около он она они оно опять от очень по под подо пока после потом потому почему почти
при про просто пусть раз разве с сам сама сами само самой самом самого самый сверху
свое своего своей свои своим своих свою себе себя сейчас сказал сказала сказали
сквозь словно со совсем так также такая такие таким такими таких такого такое такой
там тебе тебя тем теми теперь то тобой тобою тогда того тоже той только том тому
тот ту тут ты у уж уже хорошо хоть хотя чего чей чем через что чтобы чье чья эта
эти этим этими этих это этого этой этом этому этот эту я ибо ничем нечто нечего
всегда иначе сразу снова туда сюда оттуда отсюда здесь везде всюду ещё поэтому
итак зато причем притом причём итого кстати например значит вроде типа около
свыше менее более ранее позже выше ниже среди ради благодаря согласно против
насчет насчёт вследствие ввиду вокруг мимо поверх сквозь внутри снаружи
один одна одно одни одного одной одному одним одними одних первый первая первое
три четыре пять шесть семь восемь девять десять сто тысяча тысячи тысяч миллион
миллиона миллионов млн млрд тыс руб рублей рубля доллар долларов
год года году годом годы лет раз раза час часа часов день дня дней неделе неделю
месяц месяца месяцев сегодня вчера завтра сейчас теперь недавно скоро уже пока
ранее время времени момент
также тоже еще однако поэтому потому следует является являются являлся стал стала
стало стали станет станут будет бывает был была было были есть нет
заявил заявила заявили сообщил сообщила сообщили рассказал рассказала рассказали
отметил отметила отметили сообщает сообщают пишет пишут считает считают говорит
говорят добавил добавила уточнил уточнила подчеркнул подчеркнула объяснил объяснила
может могут можем могу мочь хочет хотят хотим хочу нужно надо должен должна должно
должны нужен нужна нужны сможет смогут смог смогла
новости новость новостей подписаться подписывайтесь подпишись подписка читать
читайте читать читайте смотреть смотрите источник источники подробнее подробности
ссылка ссылке ссылку реклама erid канал канала канале каналу наш наша наши нашем
нашего нашей вот здесь тут кто-то что-то где-то как-то какой-то какая-то какие-то
чем-то кого-то кому-то почему-то зачем-то когда-то
очень самый самая самое самые весьма слишком чуть едва лишь именно как бы ли
если ну ох эх ой ага угу да нет
январь января январю январе январем февраль февраля февралю феврале февралем апрель апреля
апрелю апреле апрелем июнь июня июню июне июнем июль июля июлю июле июлем сентябрь
сентября сентябрю сентябре сентябрем октябрь октября октябрю октябре октябрем ноябрь
ноября ноябрю ноябре ноябрем декабрь декабря декабрю декабре декабрем март марта марту
марте мартом май мая маю мае маем август августа августу августе августом понедельник
понедельника понедельнику понедельнике понедельником понедельники понедельникам вторник
вторника вторнику вторнике вторником вторники вторникам четверг четверга четвергу четверге
четвергом четверги четвергам среда среды среду среде средой пятница пятницы пятницу
пятнице пятницей суббота субботы субботу субботе субботой воскресенье воскресенья
воскресенью воскресеньем
достиг достигла достигли достигло постиг помог помогла помогли смог смогла смогли мог умер
вырос выросла выросли погиб погибла погибли возрос возросла возросли привлек отвлек увлек
сжег пренебрег лег слег подвергся
`

const englishStopWords = `
a about above after again against ago all almost along already also although always
am among an and another any anybody anyone anything anyway anywhere are aren't
around as at away back be became because become becomes been before behind being
below beside besides between beyond both but by can can't cannot could couldn't
did didn't do does doesn't doing don't done down during each either else enough
etc even ever every everyone everything everywhere except few first for from
further get gets getting give given go goes going gone got had hadn't has hasn't
have haven't having he he'd he'll he's her here here's hers herself him himself
his how how's however i i'd i'll i'm i've if in into is isn't it it's its itself
just last least less let let's like likely made make makes making many may maybe
me might more most mostly much must mustn't my myself near need needs neither never
new next no nobody none nor not nothing now nowhere of off often oh ok okay on once
one only onto or other others otherwise ought our ours ourselves out over own
per perhaps please quite rather really said same say says see seem seemed seems
several shall shan't she she'd she'll she's should shouldn't since so some somebody
someone something sometimes somewhere soon still such than that that's the their
theirs them themselves then there there's these they they'd they'll they're
they've thing things this those though three through throughout thus to today
together too toward towards two under until up upon us use used uses using very
via want wants was wasn't way we we'd we'll we're we've well were weren't what
what's whatever when when's where where's whether which while who who's whoever
whole whom whose why why's will with within without won't would wouldn't yes yet
you you'd you'll you're you've your yours yourself yourselves
read more click here link subscribe follow join source via new news today post
video photo www http https com html
`
