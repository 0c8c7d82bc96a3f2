%έφNΞ??κY¥sή§61hΚσβgζX[$WQΠΉaaeίζD*›2GVΫPΟwϋάΐ
‹ZD½Ϊη9Q΅°Ϋρ dZΉsK4©ηO%QRNπ "¶6χH#υ–d